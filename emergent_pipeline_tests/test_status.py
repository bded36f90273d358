"""Status from the stores themselves: the Dagster instance's runs (failed ones with their reason, no
daemon needed), the registry's aliases, the snapshot; the same through the REST API and the CLI."""

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from emergent_pipeline.defs.prices.resources import PriceSourceResource
from emergent_pipeline.sources.bundled import PRICES_FILE
from emergent_pipeline.status import _instance_runs, _sqlite_runs, registry_aliases, status_report

from emergent_pipeline_tests.conftest import PipelineStore, RetrainingPolicy, mlflow_resource
from emergent_pipeline_tests.test_api import Server, app_for

INGEST = ["universe", "price_history", "fundamentals", "benchmark_history"]


@pytest.fixture(scope="module")
def instance_with_runs(definitions, tmp_path_factory) -> Path:
    """A Dagster instance (DAGSTER_HOME) holding one successful and one failed run."""
    folder = tmp_path_factory.mktemp("instance")
    home = folder / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    prices = folder / "prices.csv"
    panel = pd.read_parquet(PRICES_FILE)
    panel[panel["symbol"].isin(["AAPL", "MSFT", "XOM"])].to_csv(prices, index=False)
    instance = dg.DagsterInstance.from_config(str(home))
    mlflow = mlflow_resource(folder / "mlruns")
    assets = list(definitions.assets) + list(definitions.asset_checks)
    for path in (prices, folder / "missing.csv"):
        dg.materialize(assets, selection=INGEST, instance=instance, raise_on_error=False, resources={
            "duckdb": PipelineStore(database=str(folder / "db.duckdb"), mlflow=mlflow), "mlflow": mlflow,
            "price_source": PriceSourceResource(kind="file", path=str(path)), "retraining": RetrainingPolicy()})
    return home


def test_the_instance_files_and_dagsters_api_give_the_same_runs(instance_with_runs):
    fast, through_dagster = _sqlite_runs(instance_with_runs, 10), _instance_runs(instance_with_runs, 10)
    assert fast == through_dagster and [r["status"] for r in fast] == ["FAILURE", "SUCCESS"]
    failure = fast[0]["failure"]
    assert failure.startswith("source_data: nothing stored, every table kept as it was: ") and "missing.csv" in failure


def test_failed_runs_show_in_the_api_and_the_cli_without_a_daemon(instance_with_runs, bundled_db, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(instance_with_runs))
    with Server(app_for(bundled_db)) as client:
        status = client.get("/system/status").json()
    failures = status["recent_failures"]
    assert len(failures) == 1 and failures[0]["failure"].startswith("source_data: nothing stored")
    assert status["system_status"]["pipeline_status"]["recent_failures"] == 1 and [r["status"] for r in status["recent_runs"]] == ["FAILURE", "SUCCESS"]
    env = {**os.environ, "DAGSTER_HOME": str(instance_with_runs), "EMERGENT_PIPELINE_SERVING_DB": str(Path(bundled_db).parent / "serving.duckdb"),
           "EMERGENT_PIPELINE_MLFLOW_URI": f"sqlite:///{Path(bundled_db).parent / 'mlruns' / 'mlflow.db'}"}
    printed = subprocess.run([str(Path(sys.executable).parent / "emergent-pipeline"), "status"], env=env, capture_output=True, text=True, timeout=60)
    cli = json.loads(printed.stdout)
    assert cli["recent_failures"] == failures and cli["models"] == status["models"] == {"champion": "1", "challenger": "1"}
    assert cli["system_status"]["ml_status"]["serving_model_version"] == "1"


def test_aliases_read_from_the_registry_file_match_mlflows_client(bundled_db):
    uri = f"sqlite:///{Path(bundled_db).parent / 'mlruns' / 'mlflow.db'}"
    store = mlflow_resource(Path(bundled_db).parent / "mlruns").store()
    expected = {alias: (str(v.version) if (v := store.version_by_alias(alias)) else None) for alias in ("champion", "challenger")}
    assert registry_aliases(uri) == expected == {"champion": "1", "challenger": "1"}


def test_no_instance_no_snapshot_no_registry_still_answers(tmp_path):
    report = status_report(str(tmp_path / "serving.duckdb"), f"sqlite:///{tmp_path / 'mlflow.db'}", None)
    system = report["system_status"]
    assert system["status"] == "down" and system["data_status"]["status"] == "no data"
    assert system["ml_status"]["reason"] == "no champion model: run the train_signal_model job"
    assert report["recent_runs"] == [] and "set DAGSTER_HOME" in system["pipeline_status"]["runs_from"]
