"""Universe, price history and fundamentals, loaded from the configured source into DuckDB."""


from datetime import timedelta

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from emergent_pipeline.core.price_update import PriceUpdateError, apply_fetch
from emergent_pipeline.defs.metadata import date_range, table_preview
from emergent_pipeline.defs.prices.resources import PriceSourceResource
from emergent_pipeline.storage import read_table, replace_table, replace_tables

GROUP = "prices"
# Refreshed every trading day: warn after a missed day, fail after a missed long weekend.
DAILY_FRESHNESS = dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=98), warn_window=timedelta(hours=26))


@dg.asset(group_name=GROUP, kinds={"duckdb", "pandas"})
def universe(context: dg.AssetExecutionContext, duckdb: DuckDBResource, price_source: PriceSourceResource) -> dg.MaterializeResult:
    """The symbols the pipeline covers, with name, GICS sector and sub-industry, and market cap where known."""
    source = price_source.build()
    members = source.universe()
    with duckdb.get_connection() as conn:
        replace_table(conn, "universe", members)
    return dg.MaterializeResult(
        metadata={
            **source.describe(),
            "dagster/row_count": len(members),
            "sectors": dg.MetadataValue.md(members["sector"].value_counts(dropna=False).to_frame("symbols").to_markdown()),
            "missing_sub_industry": int(members["sub_industry"].isna().sum()),
            "preview": table_preview(members),
        }
    )


@dg.asset(group_name=GROUP, kinds={"duckdb", "pandas"}, deps=[universe], freshness_policy=DAILY_FRESHNESS)
def price_history(context: dg.AssetExecutionContext, duckdb: DuckDBResource, price_source: PriceSourceResource) -> dg.MaterializeResult:
    """Daily OHLCV bars, one row per (symbol, date).

    Every bar passes the same row rules whatever the source; rejected rows are kept in the
    ``price_rejections`` table and shown here with their reasons. A live source appends only the
    days the table lacks. Nothing is written unless the whole update succeeds.
    """
    source = price_source.build()
    with duckdb.get_connection() as conn:
        stored = read_table(conn, "price_history")
    try:
        fetch = source.fetch_prices(stored if stored is not None else pd.DataFrame())
        update = apply_fetch(stored, fetch, source.incremental)
    except (PriceUpdateError, ValueError, OSError) as error:
        # Expected input problems: say what is wrong, plainly; nothing has been written.
        raise dg.Failure(
            description=f"price_history not updated: {error}",
            metadata={**source.describe(), "stored_rows_kept": 0 if stored is None else len(stored)},
        ) from error
    # Rejected rows are kept as text, exactly as read: they failed to parse as bars.
    detected_at = pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds")
    rejected = update.rejected.astype("string").assign(source=source.name, detected_at=detected_at)
    with duckdb.get_connection() as conn:
        if source.incremental:  # earlier runs' rejections stay on record next to today's
            earlier = read_table(conn, "price_rejections")
            if earlier is not None and len(earlier):
                rejected = pd.concat([earlier.astype("string"), rejected], ignore_index=True)
        replace_tables(conn, {"price_history": update.table, "price_rejections": rejected})

    table = update.table
    failures = pd.DataFrame(sorted(update.failures.items()), columns=["symbol", "reason"])
    if not failures.empty:
        context.log.warning(f"{len(failures)} of {update.requested} symbols failed to download")
    return dg.MaterializeResult(
        metadata={
            **source.describe(),
            "dagster/row_count": len(table),
            "symbols": int(table["symbol"].nunique()),
            "date_range": date_range(table),
            "newest_date": f"{table['date'].max():%Y-%m-%d}",
            "rows_added": len(update.added),
            "rows_rejected": len(update.rejected),
            "rejections_by_reason": dg.MetadataValue.json(update.rejected["reason"].value_counts().to_dict() if len(update.rejected) else {}),
            "rejected_rows": table_preview(update.rejected, rows=50),
            "symbols_requested": update.requested,
            "symbols_failed": len(failures),
            "failed_symbols": table_preview(failures, rows=50),
            "preview": table_preview(table.tail(5)),
        }
    )


@dg.asset(group_name=GROUP, kinds={"duckdb", "pandas"}, deps=[universe])
def fundamentals(context: dg.AssetExecutionContext, duckdb: DuckDBResource, price_source: PriceSourceResource) -> dg.MaterializeResult:
    """Point-in-time fundamentals: each row is what was known on its ``as_of`` day and may be used
    only for signals dated on or after it (the bundled snapshot is dated 2018-02-08)."""
    source = price_source.build()
    snapshot = source.fundamentals()
    with duckdb.get_connection() as conn:
        stored = read_table(conn, "fundamentals")
        if stored is not None and not stored.empty:
            # Snapshots accumulate: a new as_of adds rows, the same (symbol, as_of) is refreshed,
            # and a source with no snapshot today leaves the earlier ones alone.
            key = pd.MultiIndex.from_frame(snapshot[["symbol", "as_of"]])
            kept = stored.loc[~pd.MultiIndex.from_frame(stored[["symbol", "as_of"]]).isin(key)]
            snapshot = pd.concat([kept, snapshot], ignore_index=True) if len(snapshot) else stored
        replace_table(conn, "fundamentals", snapshot)
    as_of_dates = sorted(pd.to_datetime(snapshot["as_of"]).dt.strftime("%Y-%m-%d").unique()) if len(snapshot) else []
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(snapshot),
            "symbols": int(snapshot["symbol"].nunique()) if len(snapshot) else 0,
            "as_of_dates": ", ".join(as_of_dates) or "none",
            "note": "usable only for signals dated on or after as_of (no look-ahead)",
            "preview": table_preview(snapshot),
        }
    )
