"""The DuckDB store as a Dagster resource that checks a run before any step of it writes.

Dagster initialises a run's resources once, before its first step (the runs here use the in-process
executor), so the store resource is where a run can be refused before anything is written: a run
whose `performance_summary` start lies inside the serving model's learned window fails here, with
the reason, and changes nothing. (What killed runs leave behind is put right elsewhere, in the open:
``defs/automation/leftovers.py``.)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
from dagster_duckdb import DuckDBResource

from emergent_pipeline.core.performance import InSampleError, forward_start
from emergent_pipeline.defs.ml.jobs import TRAINING_ASSETS
from emergent_pipeline.defs.ml.resources import MLflowResource
from emergent_pipeline.model_registry import CHAMPION
from emergent_pipeline.storage import table_exists


def summary_forward_start(label_end: pd.Timestamp | None, start: str | None) -> pd.Timestamp | None:
    """The first day of the serving model's forward record (None without a serving model), for a
    summary asked to start at ``start``; a start inside the learned window, or a start without a
    model, is refused with ``dg.Failure`` (the rule itself: ``core.performance.forward_start``)."""
    if label_end is None:
        if start:
            raise dg.Failure(description="no serving model, hence no forward record: run the train_signal_model job first")
        return None
    try:
        return forward_start(label_end, pd.Timestamp(start) if start else None)
    except InSampleError as error:
        raise dg.Failure(description=str(error)) from error


def newest_label_end(database: str) -> pd.Timestamp | None:
    """The newest exit date of a resolved label in the store: what a model trained now may learn."""
    if not Path(database).exists():
        return None
    with duckdb.connect(database, read_only=True) as conn:
        if not table_exists(conn, "signal_labels"):
            return None
        newest = conn.execute("SELECT max(exit_date) FROM signal_labels WHERE label IS NOT NULL").fetchone()[0]
    return None if newest is None else pd.Timestamp(newest)


def refuse_summary_start(run: dg.DagsterRun, database: str, mlflow: MLflowResource) -> None:
    """The summary's start checked before the run writes anything: against the serving model's
    learned window, and, when the run trains a model, against every label it may learn."""
    start = ((run.run_config or {}).get("ops", {}).get("performance_summary", {}).get("config", {}) or {}).get("start")
    selection = {key.to_user_string() for key in (run.asset_selection or set())}
    if not start or (selection and "performance_summary" not in selection):
        return
    champion = mlflow.store().version_by_alias(CHAMPION)
    ends = [pd.Timestamp(champion.tags["label_end"])] if champion is not None and "label_end" in champion.tags else []
    trains = not selection or bool(selection & set(TRAINING_ASSETS))
    if trains and (newest := newest_label_end(database)) is not None:  # a model trained in this run may learn every resolved label
        ends.append(newest)
    if ends:
        try:
            summary_forward_start(max(ends), start)
        except dg.Failure as failure:
            raise dg.Failure(description=f"run refused before anything was written: {failure.description}") from failure


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
        if context.dagster_run is not None:
            refuse_summary_start(context.dagster_run, self.database, self.mlflow)
