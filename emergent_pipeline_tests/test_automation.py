"""Jobs, the schedule and the sensors, evaluated with Dagster's test contexts on real stores."""

from datetime import datetime

import dagster as dg
import mlflow as mlflow_module
import pytest
from dagster_duckdb import DuckDBResource

from emergent_pipeline.defs.automation.resources import RetrainingPolicy
from emergent_pipeline.defs.automation.schedules import daily_refresh_schedule
from emergent_pipeline.defs.automation.sensors import champion_sensor, retraining_sensor, run_failure_recorder
from emergent_pipeline.defs.prices.resources import PriceSourceResource
from emergent_pipeline.model_registry import CHAMPION, MODEL_NAME

from emergent_pipeline_tests.conftest import mlflow_resource, private_copy, read


@pytest.fixture
def workspace(bundled_db, tmp_path):
    """A private copy of the bundled database and MLflow registry (version 1 is champion)."""
    return private_copy(bundled_db, tmp_path), mlflow_resource(tmp_path / "mlruns")


def test_jobs_select_what_they_say(definitions):
    def selected(name):
        return {k.to_user_string() for k in definitions.resolve_job_def(name).asset_layer.selected_asset_keys}

    lifecycle = {"signal_model", "signal_model_evaluation", "champion_model"}
    assert not (lifecycle | {"signal_replay"}) & selected("daily_refresh")
    assert {"price_history", "consensus_signals", "signal_labels", "ml_enhanced_signals", "signal_outcomes", "performance_summary"} <= selected("daily_refresh")
    assert lifecycle | {"signal_replay"} <= selected("full_backfill")
    assert lifecycle | {"ml_enhanced_signals", "performance_summary", "serving_snapshot"} <= selected("train_signal_model")
    assert "signal_replay" not in selected("train_signal_model")
    assert selected("replay_history") == {"signal_replay", "ml_enhanced_signals", "signal_outcomes", "performance_summary", "serving_snapshot"}
    assert selected("rescore_signals") == {"ml_enhanced_signals", "signal_outcomes", "performance_summary", "serving_snapshot"}


def test_the_daily_schedule_runs_after_the_us_close_on_weekdays_and_starts_stopped():
    """The NYSE closes at 16:00 New York time, Monday to Friday: the refresh runs after that, every weekday."""
    minute, hour, day, month, weekdays = daily_refresh_schedule.cron_schedule.split()
    assert daily_refresh_schedule.execution_timezone == "America/New_York"
    assert (day, month, weekdays) == ("*", "*", "1-5") and 16 * 60 < int(hour) * 60 + int(minute) < 24 * 60
    assert daily_refresh_schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    context = dg.build_schedule_context(scheduled_execution_time=datetime(2026, 11, 24, 17, 30))
    requests = daily_refresh_schedule.evaluate_tick(context).run_requests
    assert len(requests) == 1 and daily_refresh_schedule.job_name == "daily_refresh"


def test_champion_sensor_follows_the_alias(workspace):
    db, mlflow = workspace
    duckdb = DuckDBResource(database=str(db))
    # Version 1 is champion and already scored the signals: nothing to do, but the cursor moves.
    context = dg.build_sensor_context(resources={"mlflow": mlflow, "duckdb": duckdb})
    result = champion_sensor.evaluate_tick(context)
    assert not result.run_requests and "open signals are already scored by @champion version 1" in result.skip_message
    assert result.cursor == "1"
    # A person promotes a second version in the MLflow UI.
    client, v1 = mlflow.store().client(), mlflow.store().version_by_alias(CHAMPION)
    # MLflow finds the logged model of a `models:/` source through the process's tracking URI, not the client's
    mlflow_module.set_tracking_uri(mlflow.tracking_uri)
    v2 = client.create_model_version(MODEL_NAME, v1.source, v1.run_id, tags=v1.tags)
    client.set_registered_model_alias(MODEL_NAME, CHAMPION, v2.version)
    result = champion_sensor.evaluate_tick(dg.build_sensor_context(cursor="1", resources={"mlflow": mlflow, "duckdb": duckdb}))
    assert [r.run_key for r in result.run_requests] == ["champion-2"] and result.cursor == "2"
    result = champion_sensor.evaluate_tick(dg.build_sensor_context(cursor="2", resources={"mlflow": mlflow, "duckdb": duckdb}))
    assert not result.run_requests and "still version 2, already acted on" in result.skip_message


def test_champion_sensor_without_a_model(tmp_path):
    context = dg.build_sensor_context(resources={"mlflow": mlflow_resource(tmp_path / "empty"), "duckdb": DuckDBResource(database=str(tmp_path / "x.duckdb"))})
    result = champion_sensor.evaluate_tick(context)
    assert not result.run_requests and "no @champion model yet" in result.skip_message


def test_retraining_sensor_counts_new_outcomes_and_champion_age(workspace):
    db, mlflow = workspace
    resources = {"mlflow": mlflow, "duckdb": DuckDBResource(database=str(db)), "retraining": RetrainingPolicy()}
    # The model learned every label resolved by the last bar: no outcome resolved since.
    result = retraining_sensor.evaluate_tick(dg.build_sensor_context(resources=resources))
    assert not result.run_requests and result.skip_message.startswith("0 new outcomes (need 200)")
    assert "; forward record: " in result.skip_message  # retraining on the same outcomes would change nothing
    # While the forward record does not hold (on the bundled data the probability does not rank the
    # newest year's returns), a quarter of the policy's outcomes is enough: 50, not 200.
    def new_outcomes_after(day: str) -> int:
        mlflow.store().client().set_model_version_tag(MODEL_NAME, "1", "label_end", day)
        return read(db, f"SELECT count(*) n FROM signal_outcomes WHERE outcome <> 'open' AND exit_date > DATE '{day}'")["n"].item()

    assert 50 <= new_outcomes_after("2018-01-31") < 200
    result = retraining_sensor.evaluate_tick(dg.build_sensor_context(resources=resources))
    assert result.run_requests[0].tags["retraining_reason"].startswith("the forward record does not hold")
    assert 0 < new_outcomes_after("2018-02-06") < 50
    result = retraining_sensor.evaluate_tick(dg.build_sensor_context(resources=resources))
    assert not result.run_requests and "; forward record: " in result.skip_message
    # Pretend it had learned labels up to mid-2017 only: the outcomes resolved since then call for training.
    mlflow.store().client().set_model_version_tag(MODEL_NAME, "1", "label_end", "2017-06-30")
    expected = read(db, "SELECT count(*) n FROM signal_outcomes WHERE outcome <> 'open' AND exit_date > DATE '2017-06-30'")["n"].item()
    result = retraining_sensor.evaluate_tick(dg.build_sensor_context(resources=resources))
    assert [r.run_key for r in result.run_requests] == ["retrain-after-1"] and result.cursor == "1"
    assert result.run_requests[0].tags["retraining_reason"].startswith(f"{expected} outcomes resolved since 2017-06-30")
    # Asked once per model version.
    result = retraining_sensor.evaluate_tick(dg.build_sensor_context(cursor="1", resources=resources))
    assert not result.run_requests and "already requested" in result.skip_message
    # An old champion is retrained even without new outcomes.
    mlflow.store().client().set_model_version_tag(MODEL_NAME, "1", "label_end", "2018-02-07")
    aged = {**resources, "retraining": RetrainingPolicy(max_champion_age_days=-1)}
    result = retraining_sensor.evaluate_tick(dg.build_sensor_context(resources=aged))
    assert "days old" in result.run_requests[0].tags["retraining_reason"]


def test_failed_runs_are_recorded(definitions, workspace):
    db, _ = workspace
    instance = dg.DagsterInstance.ephemeral()
    # A run that fails in its first step: the file source without a file (a config the launchpad accepts).
    assets = list(definitions.assets) + list(definitions.asset_checks)
    result = dg.materialize(
        assets, selection=["universe", "price_history", "fundamentals", "benchmark_history"], instance=instance, raise_on_error=False,
        resources={"duckdb": DuckDBResource(database=str(db)), "price_source": PriceSourceResource(kind="file"), "mlflow": workspace[1],
                   "retraining": RetrainingPolicy()},
    )
    failure = next(e for e in result.all_events if e.event_type_value == "PIPELINE_FAILURE" or e.event_type_value == "RUN_FAILURE")
    context = dg.build_run_status_sensor_context(
        sensor_name="run_failure_recorder", dagster_instance=instance, dagster_run=result.dagster_run, dagster_event=failure,
    ).for_run_failure()
    run_failure_recorder(context, duckdb=DuckDBResource(database=str(db)))
    recorded = read(db, "SELECT * FROM run_failures")
    assert recorded["run_id"].tolist() == [result.run_id]
    assert recorded["job_name"].item() == result.dagster_run.job_name
