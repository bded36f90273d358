"""Runs that fail change nothing, and say why: each failure found by running the project as a user
would, on a store made by a good run, with every stored table compared before and after."""

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import ClassVar

import dagster as dg
import pandas as pd
import pytest

from emergent_pipeline.defs.prices.resources import PriceSourceResource
from emergent_pipeline.sources.bundled import PRICES_FILE
from emergent_pipeline.paths import private_stores
from emergent_pipeline.storage import serving_db_path

from emergent_pipeline_tests.conftest import (
    assert_tables_unchanged, failure_message, materialization_metadata, materialize, mlflow_resource, private_copy, read, stored_tables, table_text,
)

INGEST = ["universe", "price_history", "fundamentals", "benchmark_history"]
COLUMN_MAP = {"Ticker": "symbol", "Day": "date"}


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    panel = pd.read_parquet(PRICES_FILE)
    return panel[panel["symbol"].isin(["AAPL", "MSFT", "XOM"])].rename(columns={"symbol": "Ticker", "date": "Day"}).reset_index(drop=True)


@pytest.fixture
def stored(definitions, tmp_path, rows):
    """A store made by a good file run: the tables a failing run must leave alone."""
    path = tmp_path / "prices.csv"
    rows.to_csv(path, index=False)
    db = tmp_path / "db.duckdb"
    assert materialize(definitions, db, PriceSourceResource(kind="file", path=str(path), column_map=COLUMN_MAP), selection=INGEST).success
    return db


def failed(definitions, db, source, selection=INGEST) -> str:
    result = materialize(definitions, db, source, selection=selection, raise_on_error=False)
    assert not result.success
    return failure_message(result)


@pytest.mark.parametrize("case, expected", [
    ("header_only", "the source gave no symbol at all (an empty universe)"),
    ("zero_bytes", "cannot be read: EmptyDataError"),
    ("wrong_names", "has no symbol column (map the file's name for it with column_map"),
])
def test_a_bad_price_file_fails_with_its_cause_and_changes_nothing(definitions, tmp_path, rows, stored, case, expected):
    before = stored_tables(stored)
    path = tmp_path / "bad.csv"
    if case == "header_only":
        rows.head(0).to_csv(path, index=False)
    elif case == "zero_bytes":
        path.write_text("")
    else:
        rows.rename(columns={"Ticker": "Code"}).to_csv(path, index=False)
    message = failed(definitions, stored, PriceSourceResource(kind="file", path=str(path), column_map=COLUMN_MAP))
    assert message.startswith("nothing stored, every table kept as it was: ") and expected in message
    assert "Traceback" not in message
    assert_tables_unchanged(before, stored)


class Offline:
    """yfinance with no network, as version 1.7 behaves: no exception, an empty frame, and the cause
    only in its logger (the message as yfinance formats it)."""

    def __call__(self, tickers, **kwargs):
        logging.getLogger("yfinance").error("\n%d Failed download%s:", len(tickers), "s" if len(tickers) > 1 else "")
        logging.getLogger("yfinance").error(f"{list(tickers)}: ConnectionError('Failed to perform, curl: (6) Could not resolve host: "
                                            "query2.finance.yahoo.com. See https://curl.se/libcurl/c/libcurl-errors.html first for more details.')")
        return pd.DataFrame()


class OfflineSource(PriceSourceResource):
    replay: ClassVar = Offline()

    def download_function(self):
        return type(self).replay


def test_yfinance_without_network_fails_with_the_real_cause_and_changes_nothing(definitions, stored):
    before = stored_tables(stored)
    source = OfflineSource(kind="yfinance", symbols=["AAPL", "MSFT"], benchmark_symbol=None, backoff_seconds=0.0, fundamentals_refresh_days=10_000)
    message = failed(definitions, stored, source)
    assert "every one of the 2 requested symbols failed" in message and "Could not resolve host: query2.finance.yahoo.com" in message
    assert_tables_unchanged(before, stored)


def test_a_file_that_is_fine_but_a_companion_that_is_not_changes_nothing(definitions, tmp_path, rows, stored):
    before = stored_tables(stored)
    prices = tmp_path / "prices.csv"
    rows.to_csv(prices, index=False)
    (tmp_path / "index.csv").write_text("")
    source = PriceSourceResource(kind="file", path=str(prices), column_map=COLUMN_MAP, benchmark_path=str(tmp_path / "index.csv"))
    assert "cannot be read: EmptyDataError" in failed(definitions, stored, source)
    assert_tables_unchanged(before, stored)


def test_a_refused_summary_start_is_refused_before_the_run_writes(definitions, bundled_db, tmp_path):
    db = private_copy(bundled_db, tmp_path)
    before = stored_tables(db)
    config = {"ops": {"performance_summary": {"config": {"start": "2016-01-04"}}}}
    result = materialize(definitions, db, PriceSourceResource(), selection=["ml_enhanced_signals", "signal_outcomes", "performance_summary"],
                         run_config=config, raise_on_error=False)
    assert not result.success
    message = failure_message(result)
    assert "run refused before anything was written: refusing to report signals from 2016-01-04 as out-of-sample" in message
    assert not result.get_asset_materialization_events()
    assert_tables_unchanged(before, db)


def test_a_tearsheet_mlflow_refuses_changes_no_stored_table(definitions, bundled_db, tmp_path):
    db = private_copy(bundled_db, tmp_path)
    before = stored_tables(db)
    refusing = tmp_path / "refusing"
    refusing.mkdir()
    (refusing / "artifacts").write_text("a file where the MLflow store keeps its artifact folders")  # no folder can be made in it
    result = materialize(definitions, db, PriceSourceResource(), selection=["performance_summary"], mlflow_dir=refusing, raise_on_error=False)
    assert not result.success
    message = failure_message(result)
    assert message.startswith("nothing stored, every table kept as it was: the tearsheet could not be logged to MLflow")
    assert f"{refusing / 'artifacts'}'" in message  # the cause itself: the path MLflow could not make a folder at
    assert_tables_unchanged(before, db)


KILLED_RUN = """
import dagster as dg
from emergent_pipeline.definitions import defs
job = defs().get_job_def("daily_refresh")
job.execute_in_process(instance=dg.DagsterInstance.get())
"""


def test_what_a_killed_run_leaves_is_put_right_by_the_leftovers_sensor(definitions, bundled_db, tmp_path):
    """A run killed with SIGKILL while it works: the leftovers sensor (and `emergent-pipeline run`,
    before it starts a run, through the same function) marks it failed (its process is gone), removes
    a staging file of a killed publication and ends an MLflow run left RUNNING by a process that is
    gone, and its tick says so. A run that merely opens the store no longer does any of it."""
    db = private_copy(bundled_db, tmp_path)
    stores = private_stores(tmp_path)
    home = stores["DAGSTER_HOME"]
    env = {**os.environ, **stores}
    process = subprocess.Popen([sys.executable, "-c", KILLED_RUN], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    instance = dg.DagsterInstance.from_config(str(home))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        runs = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
        steps = [e for e in instance.all_logs(runs[0].run_id) if e.dagster_event and e.dagster_event.event_type_value == "STEP_START"] if runs else []
        if steps:
            break
        time.sleep(0.5)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    if not steps:
        pytest.fail("the run to be killed did not start a step within 120 s")
    killed = runs[0].run_id
    assert instance.get_run_by_id(killed).status == dg.DagsterRunStatus.STARTED  # what the UI would show forever
    staging = Path(serving_db_path(str(db))).with_name(f".serving.duckdb.{process.pid}.tmp")
    staging.write_bytes(b"half a snapshot")
    store = mlflow_resource(tmp_path / "mlruns").store()
    experiment = store.client().get_experiment_by_name(store.experiment_name).experiment_id
    stuck = store.client().create_run(experiment, run_name="killed training", tags={"pid": str(process.pid)}).info.run_id
    elsewhere = store.client().create_run(experiment, run_name="a notebook's run, still going", tags={"pid": str(os.getpid())}).info.run_id

    from emergent_pipeline.defs.automation.leftovers import leftovers_sensor
    from emergent_pipeline_tests.conftest import PipelineStore, RetrainingPolicy

    mlflow = mlflow_resource(tmp_path / "mlruns")
    resources = {"duckdb": PipelineStore(database=str(db), mlflow=mlflow), "price_source": PriceSourceResource(), "mlflow": mlflow,
                 "retraining": RetrainingPolicy()}
    assets = list(definitions.assets) + list(definitions.asset_checks)
    assert dg.materialize(assets, selection=["market_context"], instance=instance, resources=resources).success
    assert instance.get_run_by_id(killed).status == dg.DagsterRunStatus.STARTED and staging.exists()  # opening the store cleans nothing
    with dg.build_sensor_context(instance=instance, resources=resources) as context:
        tick = leftovers_sensor(context)
    assert isinstance(tick, dg.SkipReason) and f"run {killed} was left STARTED by a process that is gone: marked failed" in tick.skip_message
    assert f"MLflow run {stuck} was left RUNNING" in tick.skip_message and staging.name in tick.skip_message
    assert instance.get_run_by_id(killed).status == dg.DagsterRunStatus.FAILURE
    assert not staging.exists()
    assert store.client().get_run(stuck).info.status == "KILLED"
    assert store.client().get_run(elsewhere).info.status == "RUNNING"  # its process lives: left alone
    failure = [e for e in instance.all_logs(killed) if e.dagster_event and e.dagster_event.event_type_value == "PIPELINE_FAILURE"]
    assert failure and f"pid {process.pid}) is gone" in failure[0].message


def test_unadjusted_splits_block_downstream_unless_the_source_adjusts(definitions, tmp_path):
    """Real AAPL prices put back on the basis before its 7-for-1 split of 2014-06-09 (prices × 7,
    volume ÷ 7 before the split), as an unadjusted vendor gives them."""
    real = pd.read_parquet(PRICES_FILE)
    real = real[real["symbol"].isin(["AAPL", "MSFT", "XOM", "JNJ"])].reset_index(drop=True)
    raw = real.copy()
    before = (raw["symbol"] == "AAPL") & (raw["date"] < "2014-06-09")
    raw.loc[before, ["open", "high", "low", "close"]] *= 7
    raw.loc[before, "volume"] /= 7
    path = tmp_path / "unadjusted.csv"
    raw.to_csv(path, index=False)
    db = tmp_path / "db.duckdb"
    selection = [*INGEST, "market_context", "strategy_signals"]
    result = materialize(definitions, db, PriceSourceResource(kind="file", path=str(path)), selection=selection, raise_on_error=False)
    check = {e.check_name: e for e in result.get_asset_check_evaluations()}["price_history_split_jumps"]
    assert not check.passed and "AAPL" in table_text(check.metadata["rows"]) and "2014-06-09" in table_text(check.metadata["rows"])
    assert "strategy_signals" not in {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}

    adjusted = materialize(definitions, db, PriceSourceResource(kind="file", path=str(path), adjust_splits=True), selection=INGEST)
    assert "1 split-like jumps adjusted" in materialization_metadata(adjusted, "price_history")["split_adjustment"].value
    stored = read(db, "SELECT * FROM price_history WHERE symbol = 'AAPL' ORDER BY date")
    expected = real[real["symbol"] == "AAPL"].reset_index(drop=True)
    assert stored["close"].to_numpy() == pytest.approx(expected["close"].to_numpy())
    assert stored["volume"].to_numpy() == pytest.approx(expected["volume"].to_numpy())


def test_bars_outside_their_own_range_are_excluded_and_the_check_says_so(bundled_run):
    db, result = bundled_run
    rejected = read(db, "SELECT symbol, date, reason FROM price_rejections")
    outside = rejected[rejected["reason"] == "open or close outside the bar's low-high range"]
    assert {("CHD", "2014-05-19"), ("LNT", "2016-05-19")} <= set(zip(outside["symbol"], outside["date"]))
    assert read(db, "SELECT count(*) n FROM price_history WHERE symbol = 'LNT' AND date = DATE '2016-05-19'")["n"].item() == 0
    check = {e.check_name: e for e in result.get_asset_check_evaluations()}["price_history_ohlc_consistency"]
    assert check.metadata["excluded_at_ingestion"].value == len(rejected) and "excluded from indicators and outcomes" in check.metadata["rule"].value


def test_the_bundled_source_adjusts_its_one_known_corporate_action(bundled_run):
    db, result = bundled_run
    metadata = materialization_metadata(result, "price_history")
    assert metadata["split_adjustment"].value == "2 listed corporate actions applied"  # the panel's own file lists them; the rule finds no other
    assert "DISCA" in table_text(metadata["corporate_actions"]) and "DISCK" in table_text(metadata["corporate_actions"])
    disca = read(db, "SELECT date, close FROM price_history WHERE symbol = 'DISCA' AND date BETWEEN DATE '2014-08-06' AND DATE '2014-08-07' ORDER BY date")
    assert disca["close"].tolist() == pytest.approx([83.02 / 2, 40.975])
    assert {e.check_name: e for e in result.get_asset_check_evaluations()}["price_history_split_jumps"].passed
