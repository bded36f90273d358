# Two commands on a fresh machine: `make run` and `make test`. Both create .venv and install first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DAGSTER_HOME := $(CURDIR)/.dagster_home
export DAGSTER_HOME
# dg expects the project's environment to be the active one.
DG := VIRTUAL_ENV=$(CURDIR)/$(VENV) PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/dg

.PHONY: install run test browser-test dev mlflow bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv
	# --compile-bytecode: the libraries' .pyc written once here. Where PYTHONDONTWRITEBYTECODE is set (this
	# machine's environment) nothing writes them at import, and every process compiled ~4,000 modules again:
	# importing the project's definitions took 8.1–8.6 s instead of 3.6–4.0 s.
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -e '.[dev]'
	touch $@

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $@

## Materialize every asset on the bundled data, then print a summary of the stored tables.
# Not `dg launch --job`: it executes in process without a code location, so the UI leaves the run out of its
# timeline and cannot match it to the job; `emergent-pipeline run` records it as a run of emergent_pipeline's job.
run: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/emergent-pipeline run full_backfill
	$(BIN)/emergent-pipeline summary

## Lint (pyflakes rules: unused or undefined names) and run the whole test suite, one worker per core
## (at most 4; a test module stays in one worker, so its fixtures are built once). The package bounds
## its own native threads (emergent_pipeline/core/native_threads.py) to half the cores, for two jobs side
## by side; with a worker on every core, each gets one.
test: install
	$(BIN)/ruff check .
	EMERGENT_PIPELINE_THREADS=1 $(BIN)/python -m pytest -n auto --maxprocesses 4 --dist loadfile

## A real browser over both UIs: Debian's chromium (installed with apt-get when /usr/bin/chromium is missing),
## driven by Playwright, checks the Dagster and MLflow pages on a private store built as `make run` builds it.
## Screenshots and server logs stay in $TMPDIR (or /tmp)/emergent-pipeline-browser-test/, not rotated away by other pytest runs.
browser-test: install
	@test -x /usr/bin/chromium || { SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends chromium; }
	EMERGENT_PIPELINE_BROWSER_TEST=1 $(BIN)/python -m pytest -s --basetemp=$${TMPDIR:-/tmp}/emergent-pipeline-browser-test \
		emergent_pipeline_tests/browser

## Start the Dagster UI (http://127.0.0.1:3000) with a persistent instance in .dagster_home/.
dev: install $(DAGSTER_HOME)/dagster.yaml
	$(DG) dev --host 127.0.0.1 --port 3000

## The MLflow UI (runs, model versions, aliases) on http://127.0.0.1:5000.
mlflow: install
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(CURDIR)/mlruns/mlflow.db --host 127.0.0.1 --port 5000 --workers 1

bench: install
	@for script in bench/*.py; do echo "== $$script"; $(BIN)/python $$script; done

clean:
	rm -rf $(VENV) $(DAGSTER_HOME) data
