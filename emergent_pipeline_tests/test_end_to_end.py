"""A real Dagster webserver and daemon (`dagster dev`), a run submitted over GraphQL, real tables."""

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from dagster_graphql import DagsterGraphQLClient

from emergent_pipeline.storage import PROJECT_ROOT

from emergent_pipeline_tests.conftest import free_port, read

START_TIMEOUT = 180
RUN_TIMEOUT = 420


def wait_until_up(port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"dagster dev exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(1)
    raise TimeoutError("the Dagster webserver did not come up")


@pytest.fixture
def dagster_dev(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    port = free_port()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "EMERGENT_PIPELINE_DB": str(tmp_path / "emergent.duckdb"),
        "EMERGENT_PIPELINE_MLFLOW_URI": f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}",
    }
    log = open(tmp_path / "dagster_dev.log", "w")
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster"), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        wait_until_up(port, process)
        yield port, tmp_path / "emergent.duckdb"
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # webserver, daemon and code server: the whole group
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


def test_daily_refresh_through_a_live_instance(dagster_dev):
    port, db = dagster_dev
    client = DagsterGraphQLClient("127.0.0.1", port_number=port)
    run_id = client.submit_job_execution("daily_refresh")
    deadline = time.monotonic() + RUN_TIMEOUT
    status = None
    while time.monotonic() < deadline:
        status = client.get_run_status(run_id).value
        if status in {"SUCCESS", "FAILURE", "CANCELED"}:
            break
        time.sleep(2)
    assert status == "SUCCESS"
    assert read(db, "SELECT count(*) n FROM price_history")["n"].item() == 619_028  # the panel less its 12 rejected bars
    assert read(db, "SELECT count(*) n FROM consensus_signals")["n"].item() > 2_000
    # No model was trained by the daily refresh: every signal flowed, unscored, with the reason.
    assert read(db, "SELECT DISTINCT ml_status FROM ml_enhanced_signals")["ml_status"].tolist() == ["unscored"]
    assert read(db, "SELECT count(*) n FROM signal_outcomes")["n"].item() == read(db, "SELECT count(*) n FROM consensus_signals")["n"].item()
