"""The market context, computed from the benchmark series (stored by the source's `source_data` step)."""


import dagster as dg
from dagster_duckdb import DuckDBResource

from emergent_pipeline import changes
from emergent_pipeline.core.market_context import compute_market_context
from emergent_pipeline.defs.tables import load_tables
from emergent_pipeline.defs.owners import OWNERS
from emergent_pipeline.defs.metadata import date_range, png, table_metadata, table_preview, tidy
from emergent_pipeline.defs.prices.assets import benchmark_history
from emergent_pipeline.plots import regime_chart
from emergent_pipeline.storage import replace_tables

GROUP = "market"


@dg.asset(group_name=GROUP, owners=OWNERS[GROUP], kinds={"duckdb", "pandas"}, deps=[benchmark_history])
def market_context(duckdb: DuckDBResource) -> dg.MaterializeResult:
    """One row per trading day: regime (BULL/BEAR/SIDEWAYS, UNKNOWN before 200 bars), annualised
    20-day volatility, 20-day trend, and whether the index is above its SMA50 and SMA200. The newest
    row is the current market context. Rewritten whole (a row a day), with the first day that
    differs from the stored table in the change log, for the per-signal tables that join it."""
    (index,) = load_tables(duckdb, "benchmark_history")
    context = compute_market_context(index)
    with duckdb.get_connection() as conn:
        whole, changed_from = changes.first_changed_day(conn, "market_context", context, "date", key=["date"])
        replace_tables(conn, {"market_context": context}, then=lambda c: changes.log_change(c, "market_context", changed_from, whole))
    latest = context.iloc[-1]
    shares = context["regime"].value_counts(normalize=True).round(4).to_dict()
    return dg.MaterializeResult(
        metadata=tidy({
            **table_metadata(duckdb, "market_context"),
            "date_range": date_range(context),
            "regime_share_of_days": dg.MetadataValue.json(shares),
            "current_regime": str(latest["regime"]),
            "current_volatility": float(latest["volatility"]),
            "current_trend_20d": float(latest["trend_20d"]),
            "regime_chart": png(regime_chart(context), "benchmark with regimes"),
            "latest_rows": table_preview(context.tail(5)[["date", "close", "regime", "volatility", "trend_20d"]]),
        })
    )
