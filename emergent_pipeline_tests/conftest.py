"""Shared test helpers: real Dagster runs into a temporary DuckDB file."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from pathlib import Path

import dagster as dg
import duckdb
import httpx
import pandas as pd
import pytest
import uvicorn

from emergent_pipeline.defs.automation.resources import RetrainingPolicy
from emergent_pipeline.defs.ml.resources import MLflowResource
from emergent_pipeline.defs.store import PipelineStore
from emergent_pipeline.defs.prices.resources import PriceSourceResource
from emergent_pipeline.definitions import defs as load_defs
from emergent_pipeline.api.app import create_app


@pytest.fixture(scope="session")
def definitions() -> dg.Definitions:
    return load_defs()


SOURCE_ASSETS = {"universe", "price_history", "fundamentals", "benchmark_history"}


def materialize(
    definitions: dg.Definitions,
    db_path: Path,
    price_source: PriceSourceResource,
    selection: str | list[str] | None = None,
    raise_on_error: bool = True,
    run_config: dict | None = None,
    mlflow_dir: Path | None = None,
    tags: dict[str, str] | None = None,
    instance: dg.DagsterInstance | None = None,
) -> dg.ExecuteInProcessResult:
    """Materialize the project's assets and run their checks, as `make run` does, into ``db_path``,
    with a real MLflow store in ``mlflow_dir`` (default: ``mlruns`` beside the database). ``tags``
    carry a partition range; ``instance`` keeps the runs' events between calls."""
    assets = list(definitions.assets or []) + list(definitions.asset_checks or [])
    mlflow = mlflow_resource(mlflow_dir or Path(db_path).parent / "mlruns")
    if isinstance(selection, list) and set(selection) & SOURCE_ASSETS:
        selection = [*selection, *sorted(SOURCE_ASSETS - set(selection))]  # one step writes them all, as in the UI
    return dg.materialize(
        assets,
        resources={
            "duckdb": PipelineStore(database=str(db_path), mlflow=mlflow),
            "price_source": price_source,
            "mlflow": mlflow,
            "retraining": RetrainingPolicy(),
        },
        selection=selection,
        instance=instance or dg.DagsterInstance.ephemeral(),
        raise_on_error=raise_on_error,
        run_config=run_config,
        tags=tags,
    )


def private_copy(bundled_db: Path, folder: Path) -> Path:
    """The bundled run's database (``folder/emergent.duckdb``) and MLflow store (``folder/mlruns``),
    copied, for a test that writes to them. The copied experiment still keeps its artifacts in the
    shared folder: read them, never write."""
    db = folder / "emergent.duckdb"
    shutil.copy(bundled_db, db)
    shutil.copytree(Path(bundled_db).parent / "mlruns", folder / "mlruns")
    return db


def mlflow_resource(folder: Path) -> MLflowResource:
    """A real MLflow tracking store and registry in a folder of the test's own."""
    return MLflowResource(tracking_uri=f"sqlite:///{folder / 'mlflow.db'}", artifact_root=str(folder / "artifacts"))


def read(db_path: Path, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(db_path), read_only=True) as conn:
        return conn.execute(sql).df()


@pytest.fixture(scope="session")
def bundled_run(definitions, tmp_path_factory) -> tuple[Path, dg.ExecuteInProcessResult]:
    """The whole graph materialized once on the bundled data, as `make run` does (shared by
    read-only tests): the DuckDB file (its MLflow store is ``mlruns`` beside it) and the run."""
    db_path = tmp_path_factory.mktemp("bundled") / "emergent.duckdb"
    return db_path, materialize(definitions, db_path, PriceSourceResource())


@pytest.fixture(scope="session")
def bundled_db(bundled_run) -> Path:
    return bundled_run[0]


def failure_message(result: dg.ExecuteInProcessResult) -> str:
    """The description of the first failed step, as the Dagster UI shows it; for a run refused before
    any step (by the store resource), every message of the run failure's chain of causes."""
    steps = result.get_step_failure_events()
    if steps:
        failure = steps[0].step_failure_data
        if failure.user_failure_data is not None:
            return failure.user_failure_data.description
        return failure.error.to_string()
    run_failure = next(e for e in result.all_events if e.event_type_value in ("PIPELINE_FAILURE", "RUN_FAILURE"))
    messages, error = [], run_failure.event_specific_data.error
    while error is not None:
        messages.append(error.message)
        error = error.cause
    return "\n".join(messages)


def materialization_metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict:
    """The metadata of the asset's own materialization: its last event (a partitioned asset run without
    a partition first records each month it rewrote)."""
    return [e.materialization.metadata for e in result.get_asset_materialization_events()
            if e.asset_key.to_user_string() == asset][-1]


def stored_tables(db_path: Path) -> dict[str, pd.DataFrame]:
    """Every table of the database, whole: to show that a failed run changed nothing."""
    if not Path(db_path).exists():
        return {}
    with duckdb.connect(str(db_path), read_only=True) as conn:
        names = [r[0] for r in conn.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' ORDER BY 1").fetchall()]
        return {name: conn.execute(f"SELECT * FROM {name}").df() for name in names}


def assert_tables_unchanged(before: dict[str, pd.DataFrame], db_path: Path) -> None:
    after = stored_tables(db_path)
    assert list(after) == list(before), "tables were created or dropped"
    for name, frame in before.items():
        pd.testing.assert_frame_equal(after[name], frame, obj=name)


def table_text(value: dg.TableMetadataValue) -> str:
    """The cells of a Dagster table metadata value, as one text (to find a symbol or a day in it)."""
    return " ".join(str(cell) for record in value.records for cell in record.data.values())


def table_rows(value: dg.TableMetadataValue) -> list[dict]:
    return [dict(record.data) for record in value.records]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """uvicorn serving the app in a background thread, stopped at the end; entered once the app has
    loaded its champion (it does so in the background, while it already answers)."""

    def __init__(self, app):
        self.app = app
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        warm = getattr(getattr(self.app, "state", None), "warm", None)
        if warm is not None:
            warm.wait(timeout=60)
        return httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=30)

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(timeout=30)


def app_on(folder: Path, **options):
    """The API over ``folder``'s snapshot (``serving.duckdb``) and MLflow store (``mlruns``)."""
    return create_app(snapshot_path=str(folder / "serving.duckdb"), tracking_uri=f"sqlite:///{folder / 'mlruns' / 'mlflow.db'}", **options)


def app_for(db: Path, **options):
    """The API over the stores beside the pipeline's database ``db``."""
    return app_on(Path(db).parent, **options)


@pytest.fixture
def private(bundled_db, tmp_path) -> Path:
    """The bundled run's snapshot and model store, copied: the test may break them (the copied
    experiment's artifacts stay in the shared folder: read them, never write)."""
    shutil.copy(Path(bundled_db).parent / "serving.duckdb", tmp_path / "serving.duckdb")
    shutil.copytree(Path(bundled_db).parent / "mlruns", tmp_path / "mlruns")
    return tmp_path
