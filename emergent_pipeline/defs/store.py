"""The DuckDB store as a Dagster resource that checks a run before any step of it writes.

Dagster initialises a run's resources once, before its first step (the runs here use the in-process
executor). So the store resource is where a run can be refused, and where leftovers of killed runs
can be put right, before anything is written:

- a run whose configuration the pipeline would refuse half-way (a `performance_summary` start
  inside the serving model's learned window) fails here, with the reason, and changes nothing;
- runs left STARTED by a process that was killed are marked failed (their process is gone), so the
  UI and `/system/status` stop showing them as running;
- MLflow runs left RUNNING by a killed training or replay are marked KILLED;
- serving-snapshot staging files of killed runs are removed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
from dagster_duckdb import DuckDBResource

from emergent_pipeline.core.performance import InSampleError, forward_start
from emergent_pipeline.defs.ml.resources import MLflowResource
from emergent_pipeline.model_registry import CHAMPION
from emergent_pipeline.storage import process_alive, remove_abandoned_staging, serving_db_path, table_exists

PID = re.compile(r"\(pid: (\d+)\)")
TRAINING_ASSETS = {"signal_model", "signal_model_evaluation", "champion_model"}


def run_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The process that executes a run, from the engine event that announced it."""
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        match = PID.search(record.message or "")
        if match:
            return int(match.group(1))
    return None


def fail_dead_runs(instance: dg.DagsterInstance, current_run_id: str) -> list[str]:
    """Mark failed every run still STARTED whose process no longer exists; returns their ids."""
    failed = []
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])):
        if run.run_id == current_run_id:
            continue
        pid = run_pid(instance, run.run_id)
        if pid is not None and not process_alive(pid):
            instance.report_run_failed(run, f"the run's process (pid {pid}) is gone: it was killed or crashed; marked failed by run {current_run_id[:8]}")
            failed.append(run.run_id)
    return failed


def refuse_summary_start(run: dg.DagsterRun, database: str, mlflow: MLflowResource) -> None:
    """Raise when the run would refuse its `performance_summary` start only after writing the rest."""
    start = ((run.run_config or {}).get("ops", {}).get("performance_summary", {}).get("config", {}) or {}).get("start")
    selection = {key.to_user_string() for key in (run.asset_selection or set())}
    if not start or (selection and "performance_summary" not in selection):
        return
    champion = mlflow.store().version_by_alias(CHAMPION)
    ends = [pd.Timestamp(champion.tags["label_end"])] if champion is not None and "label_end" in champion.tags else []
    if not selection or selection & TRAINING_ASSETS:  # a model trained in this run may learn every resolved label
        if Path(database).exists():
            with duckdb.connect(database, read_only=True) as conn:
                if table_exists(conn, "signal_labels"):
                    newest = conn.execute("SELECT max(exit_date) FROM signal_labels WHERE label IS NOT NULL").fetchone()[0]
                    if newest is not None:
                        ends.append(pd.Timestamp(newest))
    if ends:
        try:
            forward_start(max(ends), pd.Timestamp(start))
        except InSampleError as error:
            raise dg.Failure(description=f"run refused before anything was written: {error}") from error


class PipelineStore(DuckDBResource):
    """The pipeline's DuckDB file; see the module docstring for what it checks before a run writes."""

    mlflow: MLflowResource

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """dagster-duckdb's connection, closed when the step fails too: its own closes it only after
        success, so a failed step left the file open in the process until garbage collection, and a
        read-only connection in that process (a sensor, a test) was refused."""
        with super().get_connection() as conn:
            try:
                yield conn
            finally:
                conn.close()

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        run = context.dagster_run
        if run is None or context.instance is None:
            return
        for run_id in fail_dead_runs(context.instance, run.run_id):
            context.log.warning(f"run {run_id} was left STARTED by a process that is gone: marked failed")
        for mlflow_run in self.mlflow.store().end_abandoned_runs():
            context.log.warning(f"MLflow run {mlflow_run} was left RUNNING by a process that is gone: marked KILLED")
        removed = remove_abandoned_staging(serving_db_path(self.database))
        if removed:
            context.log.warning(f"removed {len(removed)} staging file(s) of killed runs: {', '.join(p.name for p in removed)}")
        refuse_summary_start(run, self.database, self.mlflow)
