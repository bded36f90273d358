"""The snapshot the API reads: published atomically after every refresh.

DuckDB admits one writer process, and while a Dagster run writes, no other process can open the
file, even read-only. An API reading the pipeline's file would stall (or fail) for the length of
every run. Instead the pipeline copies what the API serves into a separate file and renames it into
place in one step: the API always reads a complete, consistent snapshot, never waits for a lock,
and a request in flight keeps reading the snapshot it opened.
"""

import dagster as dg
from dagster_duckdb import DuckDBResource

from emergent_pipeline.defs.owners import OWNERS
from emergent_pipeline.defs.metadata import table_metadata
from emergent_pipeline.defs.ml.assets import SCORES
from emergent_pipeline.defs.performance.assets import performance_summary, signal_outcomes
from emergent_pipeline.defs.prices.assets import SOURCE
from emergent_pipeline.snapshot import publish_snapshot
from emergent_pipeline.storage import serving_db_path

MANIFEST = """
CREATE OR REPLACE TABLE snapshot_manifest AS
SELECT (now() AT TIME ZONE 'UTC') AS published_at, (SELECT max(date) FROM price_history) AS price_date,
       (SELECT max(date) FROM signal_outcomes) AS signal_date,
       (SELECT string_agg(DISTINCT model_version, ',' ORDER BY model_version) FROM ml_enhanced_signals e
        JOIN signal_labels l USING (symbol, date) WHERE l.outcome = 'open' AND e.ml_status = 'scored') AS model_version,
       (SELECT any_value(index_name) FROM benchmark_history) AS market_index,
       ? AS run_id
"""
"""One row saying what the snapshot holds: its newest price day and the model whose scores its open
signals carry (two versions, comma-separated, would mean a job left them out of step)."""

SERVED_TABLES = [
    "signal_outcomes", "signal_scores", "consensus_breakdown", "strategy_signals", "signal_features", "market_context",
    "price_history", "shariah_screen", "performance_summary", "performance_reliability", "performance_calibration",
    "performance_meaning", "performance_holdout", "performance_tearsheet", "performance_ic", "performance_quantiles", "replay_retrains", "model_evaluations", "run_failures", "snapshot_manifest",
]

LOGGED_BY = {"price_history": SOURCE, "strategy_signals": "strategy_signals", "shariah_screen": "shariah_screen",
             "consensus_breakdown": "consensus_signals", "signal_features": "signal_features", "signal_outcomes": "signal_outcomes",
             "signal_scores": SCORES, "market_context": "market_context"}
"""The served tables whose writers log their changes, each with the name it logs under: a
publication rewrites only the days changed since the snapshot in place (the other tables are short
and copied whole)."""


@dg.asset(group_name="serving", owners=OWNERS["serving"], kinds={"duckdb"}, deps=[signal_outcomes, performance_summary])
def serving_snapshot(context: dg.AssetExecutionContext, duckdb: DuckDBResource) -> dg.MaterializeResult:
    """The tables the REST and Python APIs read, copied to `serving.duckdb` and swapped in atomically,
    with a manifest of the price day and model version they hold. The long tables are rewritten only
    from their first day changed since the snapshot in place (:mod:`emergent_pipeline.snapshot`)."""
    target = serving_db_path(duckdb.database)
    with duckdb.get_connection() as conn:
        conn.execute(MANIFEST, [context.run_id])
        manifest = conn.execute("SELECT price_date, signal_date, model_version FROM snapshot_manifest").fetchone()
        published = publish_snapshot(conn, SERVED_TABLES, target, LOGGED_BY)
    price_date, signal_date, model_version = manifest
    return dg.MaterializeResult(metadata={
        **table_metadata(duckdb, "snapshot_manifest"),
        "path": dg.MetadataValue.path(target), "tables": dg.MetadataValue.json(published.rows),
        "rows_written": dg.MetadataValue.json(published.written), "rows_kept": sum(published.rows.values()) - sum(published.written.values()), "price_date": str(price_date),
        "newest_signal_date": str(signal_date), "model_version": model_version or "none (no signal scored)",
    })
