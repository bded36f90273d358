"""Sensors: follow the model registry, retrain when outcomes pile up, record failed runs.

Sensors only read DuckDB, read-only; a run writing at that moment holds the file, and the sensor
then skips this tick with that reason (the next tick tries again).
"""

import time
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
from duckdb import IOException as StoreBusy  # the sensors' `duckdb` parameter (the resource) hides the module's name
from dagster_duckdb import DuckDBResource

from emergent_pipeline.defs.automation.jobs import rescore_signals
from emergent_pipeline.defs.automation.resources import RetrainingPolicy
from emergent_pipeline.defs.ml.jobs import train_signal_model
from emergent_pipeline.core.monitoring import RecordHealth
from emergent_pipeline.defs.ml.resources import MLflowResource
from emergent_pipeline.defs.performance.checks import record_health
from emergent_pipeline.model_registry import CHAMPION
from emergent_pipeline.storage import table_exists

MINUTE = 60


def query(database: str, table: str, sql: str, params: tuple = ()) -> pd.DataFrame | None:
    """A read-only, parameterised query on `table`; None when the file or the table is missing.
    Raises duckdb.IOException when a run holds the file."""
    if not Path(database).exists():
        return None
    with duckdb.connect(database, read_only=True) as conn:
        return conn.execute(sql, list(params)).df() if table_exists(conn, table) else None


def forward_record(database: str) -> tuple[pd.Timestamp, RecordHealth] | None:
    """The newest day and the as-issued record's health then (the `forward_record_holds` check's own
    reading); None before any outcome is stored."""
    if not Path(database).exists():
        return None
    with duckdb.connect(database, read_only=True) as conn:
        return record_health(conn) if table_exists(conn, "signal_outcomes") and table_exists(conn, "price_history") else None


@dg.sensor(job=rescore_signals, minimum_interval_seconds=MINUTE, default_status=dg.DefaultSensorStatus.RUNNING,
           description="When @champion points at a new model version (promoted by training or by hand in MLflow) and open "
           "signals carry another model's score, runs rescore_signals once for that version. Cursor: the version last acted on.")
def champion_sensor(context: dg.SensorEvaluationContext, mlflow: MLflowResource, duckdb: DuckDBResource):
    """When `@champion` points at a new version (promoted by training or by hand in the MLflow
    UI), re-score the signals and refresh what depends on them. Cursor: the version last acted on.
    A move the pipeline did not make is logged here (a `champion_move` run, "moved outside the
    pipeline", at the time it was noticed): MLflow itself keeps no history of an alias."""
    store = mlflow.store()
    champion = store.version_by_alias(CHAMPION)
    if champion is None:
        return dg.SkipReason("no @champion model yet: run the train_signal_model job")
    version = str(champion.version)
    if context.cursor == version:
        return dg.SkipReason(f"@champion is still version {version}, already acted on")
    try:
        if store.moves.notice(noticed_by="champion_sensor"):
            context.log.info(f"@champion is on version {version}, a move the pipeline did not make: logged")
    except Exception as error:  # noqa: BLE001 - the log must not stop the re-scoring
        context.log.warning(f"could not log the move of @champion to version {version}: {error}")
    try:
        scored = query(duckdb.database, "ml_enhanced_signals",
                       "SELECT DISTINCT e.model_version FROM ml_enhanced_signals e JOIN signal_labels l USING (symbol, date) "
                       "WHERE l.outcome = 'open' AND e.ml_status = 'scored'")
    except StoreBusy as error:
        return dg.SkipReason(f"DuckDB is busy (a run is writing): {error}")
    context.update_cursor(version)
    if scored is not None and scored["model_version"].astype(str).tolist() in ([], [version]):
        return dg.SkipReason(f"the open signals are already scored by @champion version {version}")
    return dg.RunRequest(run_key=f"champion-{version}", tags={"champion_version": version})


@dg.sensor(job=train_signal_model, minimum_interval_seconds=10 * MINUTE, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Runs train_signal_model when enough outcomes resolved after the newest model's data, @champion is "
           "too old (policy: the retraining resource), or the forward record does not hold and a quarter of those outcomes are new. Cursor: the newest model version when training was last requested.")
def retraining_sensor(context: dg.SensorEvaluationContext, mlflow: MLflowResource, duckdb: DuckDBResource, retraining: RetrainingPolicy):
    """Request `train_signal_model` when enough outcomes have resolved since the data the newest
    model was trained on, when the champion is older than the policy allows, or when the forward
    record does not hold (`forward_record_holds`) and a quarter of the outcomes the policy asks for
    have resolved since. Cursor: the newest
    model version when training was last requested, so one pile of outcomes asks once."""
    store = mlflow.store()
    versions = store.client().search_model_versions(f"name = '{store.model_name}'")
    newest = max(versions, key=lambda v: int(v.version), default=None)
    newest_label = str(newest.version) if newest is not None else "none"
    if context.cursor == newest_label:
        return dg.SkipReason(f"training already requested after model version {newest_label}; waiting for a new version")
    learned = newest.tags.get("label_end", newest.tags.get("data_end")) if newest is not None else None
    data_end = pd.Timestamp(learned or "1900-01-01")
    try:
        resolved = query(
            duckdb.database, "signal_outcomes", "SELECT count(*) AS n FROM signal_outcomes WHERE outcome <> 'open' AND exit_date > ?",
            (data_end.date(),),
        )
    except StoreBusy as error:
        return dg.SkipReason(f"DuckDB is busy (a run is writing): {error}")
    new_outcomes = 0 if resolved is None else int(resolved["n"].item())
    champion = store.version_by_alias(CHAMPION)
    age_days = (time.time() * 1000 - champion.creation_timestamp) / 86_400_000 if champion is not None else None
    forward_bar = max(1, retraining.min_new_outcomes // 4)
    try:
        health = forward_record(duckdb.database)
    except StoreBusy as error:
        return dg.SkipReason(f"DuckDB is busy (a run is writing): {error}")
    if new_outcomes >= retraining.min_new_outcomes:
        reason = f"{new_outcomes} outcomes resolved since {data_end:%Y-%m-%d} (policy: {retraining.min_new_outcomes})"
    elif champion is not None and age_days > retraining.max_champion_age_days:
        reason = f"champion version {champion.version} is {age_days:.0f} days old (policy: {retraining.max_champion_age_days})"
    elif health is not None and not health[1].holds and new_outcomes >= forward_bar:
        # A failing record quarters the bar (retraining on the same outcomes would change nothing, and a
        # year-long record fails for days after one retraining: daily retrainings would follow).
        reason = f"the forward record does not hold ({health[1].sentence(health[0])}); {new_outcomes} outcomes resolved since {data_end:%Y-%m-%d}"
    else:
        return dg.SkipReason(
            f"{new_outcomes} new outcomes (need {retraining.min_new_outcomes})"
            + (f", champion {age_days:.0f} days old (max {retraining.max_champion_age_days})" if age_days is not None else ", no champion")
            + (f"; forward record: {health[1].sentence(health[0])}" if health is not None else "")
        )
    context.update_cursor(newest_label)
    return dg.RunRequest(run_key=f"retrain-after-{newest_label}", tags={"retraining_reason": reason[:200]})


@dg.run_failure_sensor(default_status=dg.DefaultSensorStatus.RUNNING, minimum_interval_seconds=MINUTE, monitor_all_code_locations=True,
                       description="Logs every failed run of this code location and appends it to the DuckDB table run_failures.")
def run_failure_recorder(context: dg.RunFailureSensorContext, duckdb: DuckDBResource):
    """Every failed run goes to the log and to the `run_failures` table, where the API and a
    person querying DuckDB see it. All code locations are followed: a run of `emergent-pipeline run`
    is recorded without one (Dagster has no public API that launches a run into a code location).

    Returns nothing, unlike the two sensors above: Dagster calls it once per failed run, and a
    returned value (a SkipReason too) ends the tick at that run, without the "acted on" event Dagster
    otherwise logs to the failed run. A tick with no failed run never calls it."""
    run = context.dagster_run
    message = context.failure_event.message or "failed"
    context.log.error(f"run {run.run_id} of {run.job_name} failed: {message}")
    row = pd.DataFrame(
        [{"run_id": run.run_id, "job_name": run.job_name, "failed_at": datetime.now(timezone.utc).replace(tzinfo=None), "message": message[:2000]}]
    )
    try:
        with duckdb.get_connection() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS run_failures (run_id VARCHAR, job_name VARCHAR, failed_at TIMESTAMP, message VARCHAR)")
            conn.register("failure", row)
            conn.execute("INSERT INTO run_failures SELECT * FROM failure")
    except Exception as error:  # noqa: BLE001 - recording must not fail the sensor
        context.log.error(f"could not record the failure in DuckDB: {error}")
