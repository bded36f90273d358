"""The snapshot the API reads: published atomically after every refresh.

DuckDB admits one writer process, and while a Dagster run writes, no other process can open the
file, even read-only. An API reading the pipeline's file would stall (or fail) for the length of
every run. Instead the pipeline copies what the API serves into a separate file and renames it into
place in one step: the API always reads a complete, consistent snapshot, never waits for a lock,
and a request in flight keeps reading the snapshot it opened.
"""

import dagster as dg
from dagster_duckdb import DuckDBResource

from emergent_pipeline.defs.performance.assets import performance_summary, signal_outcomes
from emergent_pipeline.storage import publish_snapshot, serving_db_path

SERVED_TABLES = [
    "signal_outcomes", "signal_scores", "consensus_breakdown", "strategy_signals", "signal_features", "market_context",
    "price_history", "shariah_screen", "performance_summary", "performance_reliability", "performance_calibration",
    "performance_meaning", "performance_holdout", "replay_retrains", "model_evaluations", "run_failures",
]


@dg.asset(group_name="serving", kinds={"duckdb"}, deps=[signal_outcomes, performance_summary])
def serving_snapshot(duckdb: DuckDBResource) -> dg.MaterializeResult:
    """The tables the REST and Python APIs read, copied to ``serving.duckdb`` and swapped in atomically."""
    target = serving_db_path(duckdb.database)
    with duckdb.get_connection() as conn:
        counts = publish_snapshot(conn, SERVED_TABLES, target)
    return dg.MaterializeResult(metadata={"path": target, "tables": dg.MetadataValue.json(counts)})
