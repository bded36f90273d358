"""Universe, price history and fundamentals, loaded from the configured source into DuckDB."""


from datetime import timedelta

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource
from pydantic import Field

from emergent_pipeline.core.fundamentals import AvailabilityParams, FundamentalsError, canonical, point_in_time
from emergent_pipeline.core.price_update import PriceUpdateError, apply_fetch
from emergent_pipeline.defs.metadata import date_range, table_preview
from emergent_pipeline.defs.prices.resources import PriceSourceResource
from emergent_pipeline.sources.file import SourceFileError
from emergent_pipeline.storage import read_table, replace_table, replace_tables

SECTOR_NEEDED_BY = "sector_rotation (ranks sectors), the Shariah activity screen (every symbol UNKNOWN) and the model's sector feature"

GROUP = "prices"
# Refreshed every trading day: warn after a missed day, fail after a missed long weekend.
DAILY_FRESHNESS = dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=98), warn_window=timedelta(hours=26))


@dg.asset(group_name=GROUP, kinds={"duckdb", "pandas"})
def universe(context: dg.AssetExecutionContext, duckdb: DuckDBResource, price_source: PriceSourceResource) -> dg.MaterializeResult:
    """The symbols the pipeline covers, with name, GICS sector and sub-industry, and market cap where known."""
    source = price_source.build()
    try:
        members = source.universe()
    except (SourceFileError, OSError) as error:
        raise dg.Failure(description=f"universe not updated: {error}", metadata=source.describe()) from error
    with duckdb.get_connection() as conn:
        replace_table(conn, "universe", members)
    no_sector = int(members["sector"].isna().sum())
    if no_sector:
        context.log.warning(f"{no_sector} of {len(members)} symbols have no sector: {SECTOR_NEEDED_BY} cannot work for them")
    return dg.MaterializeResult(
        metadata={
            **source.describe(),
            "dagster/row_count": len(members),
            "sectors": dg.MetadataValue.md(members["sector"].value_counts(dropna=False).to_frame("symbols").to_markdown()),
            "missing_sub_industry": int(members["sub_industry"].isna().sum()),
            "missing_sector": no_sector,
            "sector_warning": (f"{no_sector} of {len(members)} symbols have no sector: {SECTOR_NEEDED_BY} cannot work for them"
                               if no_sector else "every symbol has a sector"),
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


class FundamentalsConfig(dg.Config):
    """When a statement may be used, and how splits are inferred (``core.fundamentals``)."""

    filing_lag_days: int = Field(default=90, description="Availability = period end + this, where the source has no filing date.")
    max_age_months: int = Field(default=15, description="A statement is not used longer than this after its availability.")
    split_tolerance: float = Field(default=0.10, description="A share-count jump this close to a usual split ratio is a split.")

    def to_params(self) -> AvailabilityParams:
        return AvailabilityParams(self.filing_lag_days, self.max_age_months, self.split_tolerance)


@dg.asset(group_name=GROUP, kinds={"duckdb", "pandas"}, deps=[universe])
def fundamentals(context: dg.AssetExecutionContext, config: FundamentalsConfig, duckdb: DuckDBResource,
                 price_source: PriceSourceResource) -> dg.MaterializeResult:
    """Company statements, point in time: each row is usable from ``available_from`` (filing date, or
    period end + the filing lag) until a newer one is or ``usable_until`` passes, with EPS and shares
    on the share basis of the prices. The statements as the sources gave them accumulate in
    ``fundamental_statements`` (a new fetch refreshes the same symbol, kind and period)."""
    source = price_source.build()
    with duckdb.get_connection() as conn:
        stored = read_table(conn, "fundamental_statements")
    try:
        fetch = source.fundamentals(stored)
        fresh = canonical(fetch.statements)
        statements = fresh
        if stored is not None and len(stored):
            key = pd.MultiIndex.from_frame(fresh[["symbol", "kind", "period_end"]])
            kept = stored.loc[~pd.MultiIndex.from_frame(canonical(stored)[["symbol", "kind", "period_end"]]).isin(key)]
            statements = canonical(pd.concat([kept, fresh], ignore_index=True)) if len(fresh) else canonical(stored)
        table, splits = point_in_time(statements, config.to_params())
    except (FundamentalsError, SourceFileError, OSError) as error:
        raise dg.Failure(description=f"fundamentals not updated: {error}", metadata=source.describe()) from error
    with duckdb.get_connection() as conn:
        replace_tables(conn, {"fundamental_statements": statements, "fundamentals": table})
    failures = pd.DataFrame(sorted(fetch.failures.items()), columns=["symbol", "reason"])
    if len(failures):
        context.log.warning(f"{len(failures)} of {fetch.requested} symbols gave no statements")
    kinds = table["kind"].value_counts().to_dict() if len(table) else {}
    return dg.MaterializeResult(
        metadata={
            **source.describe(),
            "dagster/row_count": len(table),
            "symbols": int(table["symbol"].nunique()) if len(table) else 0,
            "statements_by_kind": dg.MetadataValue.json({str(k): int(v) for k, v in kinds.items()}),
            "statements_fetched": len(fresh),
            "period_ends": date_range(table, "period_end") if len(table) else "none",
            "availability": f"filing date, else period end + {config.filing_lag_days} days; usable for {config.max_age_months} months at most",
            "share_counts_carried": int((table["shares_from_period_end"] < table["period_end"]).sum()) if len(table) else 0,
            "inferred_splits": len(splits),
            "splits": table_preview(splits, rows=60),
            "symbols_failed": len(failures),
            "failed_symbols": table_preview(failures, rows=50),
            "preview": table_preview(table[table["symbol"] == table["symbol"].iloc[0]] if len(table) else table),
        }
    )
