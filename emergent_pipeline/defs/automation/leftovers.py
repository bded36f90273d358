"""What a killed run leaves behind, put right in one visible place.

A run killed with SIGKILL (out of memory, a closed laptop, `kill -9`) cannot clean up after itself:
its Dagster run stays STARTED, the MLflow run it had open stays RUNNING, and a serving-snapshot
staging file may stay on disk. :func:`clear_leftovers` finds each of them by its process id, whose
process is gone, and puts it right, saying what it did. Two callers, neither hidden: the
``leftovers_sensor`` (with the daemon, every five minutes, its ticks in the UI) and
`emergent-pipeline run`, before it starts a run (printed).
"""

from __future__ import annotations

import dagster as dg
from dagster_duckdb import DuckDBResource

from emergent_pipeline.defs.ml.resources import MLflowResource
from emergent_pipeline.status import run_process_id
from emergent_pipeline.storage import process_alive, remove_abandoned_staging, serving_db_path

FIVE_MINUTES = 300


def fail_dead_runs(instance: dg.DagsterInstance, noticed_by: str) -> list[str]:
    """Mark failed every run still STARTED whose process no longer exists; returns their ids."""
    failed = []
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])):
        pid = run_process_id(instance, run.run_id)
        if pid is not None and not process_alive(pid):
            instance.report_run_failed(run, f"the run's process (pid {pid}) is gone: it was killed or crashed; marked failed by {noticed_by}")
            failed.append(run.run_id)
    return failed


def clear_leftovers(instance: dg.DagsterInstance, mlflow: MLflowResource, database: str, noticed_by: str) -> list[str]:
    """Runs left STARTED marked failed, MLflow runs left RUNNING marked KILLED, staging files of killed
    publications removed, each only when its process is gone; one sentence per thing put right."""
    done = [f"run {run_id} was left STARTED by a process that is gone: marked failed" for run_id in fail_dead_runs(instance, noticed_by)]
    done += [f"MLflow run {run_id} was left RUNNING by a process that is gone: marked KILLED" for run_id in mlflow.store().end_abandoned_runs()]
    done += [f"removed {path.name}, a staging file of a killed publication" for path in remove_abandoned_staging(serving_db_path(database))]
    return done


@dg.sensor(minimum_interval_seconds=FIVE_MINUTES, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Puts right what killed runs left: Dagster runs left STARTED marked failed, MLflow runs left RUNNING marked "
           "KILLED, serving-snapshot staging files removed (each only when its process is gone).")
def leftovers_sensor(context: dg.SensorEvaluationContext, mlflow: MLflowResource, duckdb: DuckDBResource):
    """Every five minutes: :func:`clear_leftovers`; the tick says what it put right (or that nothing was left)."""
    done = clear_leftovers(context.instance, mlflow, duckdb.database, noticed_by="leftovers_sensor")
    for line in done:
        context.log.warning(line)
    return dg.SkipReason("; ".join(done) if done else "nothing left behind by a killed run")
