"""Where the pipeline's files are: the DuckDB store, the serving snapshot, the MLflow store and its UI (and the
registered model's name in it) and the Dagster instance. Standard library only, so that a command that only reads them starts at once."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DB_PATH_ENV = "EMERGENT_PIPELINE_DB"
SERVING_DB_ENV = "EMERGENT_PIPELINE_SERVING_DB"
TRACKING_URI_ENV = "EMERGENT_PIPELINE_MLFLOW_URI"
MLFLOW_UI_ENV = "EMERGENT_PIPELINE_MLFLOW_UI"
DEFAULT_MLFLOW_UI = "http://127.0.0.1:5000"
"""Where `make mlflow` serves the MLflow UI: the Dagster assets link their runs and versions there."""
MODEL_NAME = "emergent-signal-scorer"
"""The registered model in the MLflow store, and the aliases that say which version serves."""
CHAMPION, CHALLENGER = "champion", "challenger"


def default_db_path() -> str:
    """``$EMERGENT_PIPELINE_DB`` if set, else ``data/emergent.duckdb`` under the project root."""
    return os.environ.get(DB_PATH_ENV) or str(PROJECT_ROOT / "data" / "emergent.duckdb")


def serving_db_path(db_path: str | None = None) -> str:
    """``$EMERGENT_PIPELINE_SERVING_DB`` if set, else ``serving.duckdb`` beside the pipeline's file."""
    return os.environ.get(SERVING_DB_ENV) or str(Path(db_path or default_db_path()).expanduser().parent / "serving.duckdb")


def default_tracking_uri() -> str:
    """``$EMERGENT_PIPELINE_MLFLOW_URI`` if set, else ``sqlite:///<project>/mlruns/mlflow.db``."""
    return os.environ.get(TRACKING_URI_ENV) or f"sqlite:///{PROJECT_ROOT / 'mlruns' / 'mlflow.db'}"


def default_artifact_root() -> str:
    """``artifacts`` beside the tracking database when it is a sqlite file, else ``mlruns/artifacts``."""
    uri = default_tracking_uri()
    if uri.startswith("sqlite:///"):
        return str(Path(uri.removeprefix("sqlite:///")).parent / "artifacts")
    return str(PROJECT_ROOT / "mlruns" / "artifacts")


def mlflow_ui_url() -> str:
    """``$EMERGENT_PIPELINE_MLFLOW_UI`` if set (an MLflow server elsewhere), else the one `make mlflow`
    starts; no trailing slash."""
    return (os.environ.get(MLFLOW_UI_ENV) or DEFAULT_MLFLOW_UI).rstrip("/")


def dagster_home() -> Path | None:
    """``$DAGSTER_HOME``, else the project's ``.dagster_home`` (where `make run` and `make dev` keep
    the instance) when it exists; None when there is no instance to read."""
    home = os.environ.get("DAGSTER_HOME")
    if home:
        return Path(home)
    local = PROJECT_ROOT / ".dagster_home"
    return local if (local / "dagster.yaml").exists() else None


def private_stores(folder: Path) -> dict[str, str]:
    """The environment variables that point a child process (a run, the CLI, a server) at its own
    stores under ``folder``: ``emergent.duckdb``, ``serving.duckdb``, ``mlruns/mlflow.db`` and a
    Dagster instance in ``dagster_home`` (created, with telemetry off, and without the UI's "Join the
    Dagster community" dialog, which would cover a browser test's clicks). For benchmarks and tests."""
    home = folder / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\nnux:\n  enabled: false\n")
    (folder / "mlruns").mkdir(exist_ok=True)
    return {DB_PATH_ENV: str(folder / "emergent.duckdb"), SERVING_DB_ENV: str(folder / "serving.duckdb"),
            TRACKING_URI_ENV: f"sqlite:///{folder / 'mlruns' / 'mlflow.db'}", "DAGSTER_HOME": str(home)}


def process_alive(pid: int) -> bool:
    """Whether a process with this id exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
