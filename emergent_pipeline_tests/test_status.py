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
from emergent_pipeline.status import dagster_runs, failing_jobs, registry_aliases, status_report

from emergent_pipeline_tests.conftest import PipelineStore, RetrainingPolicy, mlflow_resource
from emergent_pipeline_tests.conftest import Server, app_for

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


def test_runs_and_their_causes_come_from_dagsters_api(instance_with_runs):
    runs, source = dagster_runs(instance_with_runs)
    assert source == "the Dagster instance" and [r["status"] for r in runs] == ["FAILURE", "SUCCESS"]
    cause = runs[0]["cause"]
    assert cause["step"] == "source_data" and cause["kind"] == "input refused"
    assert cause["message"].startswith("source_data: nothing stored, every table kept as it was: ") and "missing.csv" in cause["message"]
    assert failing_jobs(runs) == [{"job": runs[0]["job"], "run_id": runs[0]["run_id"], "ended_at": runs[0]["ended_at"],
                                   "rerun": f"emergent-pipeline rerun {runs[0]['run_id']}"}]


def test_a_failed_run_shows_in_the_api_without_its_paths_and_in_the_cli_with_them(instance_with_runs, bundled_db, monkeypatch):
    """Any caller of the API reads what failed and its kind; the message, which names the user's files,
    stays in the run log and in `emergent-pipeline status` on the pipeline's machine. The newest run of
    the job failed, so the status is degraded, not ok."""
    monkeypatch.setenv("DAGSTER_HOME", str(instance_with_runs))
    with Server(app_for(bundled_db)) as client:
        response = client.get("/system/status")
    status, folder = response.json(), instance_with_runs.parent
    assert str(folder) not in response.text and "missing.csv" not in response.text and "/tmp" not in response.text
    failures = status["recent_failures"]
    assert len(failures) == 1 and failures[0]["failure"] == "step source_data: input refused; the run's log in the Dagster UI has the detail"
    system = status["system_status"]
    assert system["status"] == "degraded" and system["reasons"] == [
        f"the newest run of {failures[0]['job']} failed ({failures[0]['ended_at']}): what it produces is not up to date; once its cause "
        f"is mended, `emergent-pipeline rerun {failures[0]['run_id']}` runs it again with its config"]
    assert system["pipeline_status"]["recent_failures"] == 1 and [r["status"] for r in status["recent_runs"]] == ["FAILURE", "SUCCESS"]
    env = {**os.environ, "DAGSTER_HOME": str(instance_with_runs), "EMERGENT_PIPELINE_SERVING_DB": str(Path(bundled_db).parent / "serving.duckdb"),
           "EMERGENT_PIPELINE_MLFLOW_URI": f"sqlite:///{Path(bundled_db).parent / 'mlruns' / 'mlflow.db'}"}
    printed = subprocess.run([str(Path(sys.executable).parent / "emergent-pipeline"), "status"], env=env, capture_output=True, text=True, timeout=60)
    cli = json.loads(printed.stdout)
    assert [f["run_id"] for f in cli["recent_failures"]] == [f["run_id"] for f in failures]
    assert cli["recent_failures"][0]["failure"].startswith("source_data: nothing stored") and str(folder / "missing.csv") in printed.stdout
    assert cli["models"] == status["models"] == {"champion": "1", "challenger": "1"} and cli["system_status"]["status"] == "degraded"
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
