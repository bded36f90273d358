"""`emergent-pipeline run` as a user types it: README's own file-source config, run from a YAML file in
a separate process, recorded in a Dagster instance; an invalid config runs nothing and changes nothing."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from emergent_pipeline.paths import PROJECT_ROOT, private_stores
from emergent_pipeline.sources.bundled import ANNUAL_FILE, PRICES_FILE, UNIVERSE_FILE

from emergent_pipeline_tests.conftest import assert_tables_unchanged, read, stored_tables
from emergent_pipeline_tests.bundled_inputs import STATEMENT_MAP

SYMBOLS = ["AAPL", "MSFT", "XOM", "JPM"]


def readme_file_source_config() -> dict:
    """The README's example run config for the `file` source, as a user would copy it."""
    blocks = re.findall(r"```yaml\n(.*?)```", (PROJECT_ROOT / "README.md").read_text(), flags=re.S)
    configs = [yaml.safe_load(b) for b in blocks if "kind: file" in b]
    assert len(configs) == 1, "README should show exactly one file-source example"
    return configs[0]


def files_named_as_in_readme(config: dict, folder: Path) -> dict:
    """Real bundled rows written under the column names README's config maps, at paths in ``folder``."""
    source = config["resources"]["price_source"]["config"]
    prices = pd.read_parquet(PRICES_FILE)
    prices = prices[prices["symbol"].isin(SYMBOLS)]
    prices = prices.rename(columns={v: k for k, v in source["column_map"].items()})
    prices.to_csv(folder / "prices.csv", index=False)
    universe = pd.read_csv(UNIVERSE_FILE)  # symbol, name, sector, sub_industry
    universe = universe[universe["symbol"].isin(SYMBOLS)].rename(columns={v: k for k, v in source["universe_column_map"].items()})
    universe.to_csv(folder / "universe.csv", index=False)
    statements = pd.read_csv(ANNUAL_FILE, index_col=0).rename(columns=STATEMENT_MAP)
    statements = statements[statements["symbol"].isin(SYMBOLS)]
    readme_names = {v: k for k, v in source["fundamentals_column_map"].items()}
    statements[[c for c in statements if c in readme_names]].rename(columns=readme_names).to_csv(folder / "statements.csv", index=False)
    source.update(path=str(folder / "prices.csv"), universe_path=str(folder / "universe.csv"),
                  fundamentals_path=str(folder / "statements.csv"))
    source.pop("benchmark_path")  # optional: without it the equal-weight index of the file stands in
    return config


def cli(folder: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **private_stores(folder)}
    return subprocess.run([sys.executable, "-m", "emergent_pipeline.cli", *args], env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def ran(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    folder = tmp_path_factory.mktemp("cli")
    config = files_named_as_in_readme(readme_file_source_config(), folder)
    (folder / "nse.yaml").write_text(yaml.safe_dump(config))
    return folder, cli(folder, "run", "daily_refresh", "--config", str(folder / "nse.yaml"))


def test_readmes_file_source_config_runs_the_daily_refresh_from_the_command_line(ran):
    folder, result = ran
    assert result.returncode == 0, result.stderr[-2000:]
    assert re.search(r"run \S+ of daily_refresh succeeded: \d+ assets materialized", result.stdout)
    stored = read(folder / "emergent.duckdb", "SELECT symbol, count(*) n FROM price_history GROUP BY 1 ORDER BY 1")
    assert stored["symbol"].tolist() == sorted(SYMBOLS)
    statements = read(folder / "emergent.duckdb", "SELECT DISTINCT symbol FROM fundamentals ORDER BY 1")["symbol"].tolist()
    assert statements == sorted(SYMBOLS)
    sectors = read(folder / "emergent.duckdb", "SELECT symbol, sector FROM universe ORDER BY 1")
    assert sectors.set_index("symbol")["sector"].to_dict()["JPM"] == "Financials"
    assert (folder / "serving.duckdb").exists()
    # The run is recorded in the instance, where `status` (and the Dagster UI) find it.
    status = cli(folder, "status")
    assert '"job": "daily_refresh"' in status.stdout and '"status": "SUCCESS"' in status.stdout


@pytest.mark.parametrize("mistake, named", [
    ({"colum_map": {"Ticker": "symbol"}}, "colum_map"),
    ({"kind": "excel"}, "excel"),
])
def test_an_invalid_config_runs_nothing_and_changes_nothing(ran, mistake, named):
    folder, _ = ran
    config = yaml.safe_load((folder / "nse.yaml").read_text())
    config["resources"]["price_source"]["config"].update(mistake)
    (folder / "bad.yaml").write_text(yaml.safe_dump(config))
    before = stored_tables(folder / "emergent.duckdb")
    result = cli(folder, "run", "daily_refresh", "-c", str(folder / "bad.yaml"))
    assert result.returncode == 2
    assert "invalid config, nothing ran" in result.stderr and named in result.stderr
    assert "Traceback" not in result.stderr
    assert_tables_unchanged(before, folder / "emergent.duckdb")


def test_an_unknown_job_lists_the_jobs(ran):
    folder, _ = ran
    result = cli(folder, "run", "daily_refrsh")
    assert result.returncode == 2 and "daily_refresh" in result.stderr and "train_signal_model" in result.stderr
