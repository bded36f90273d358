"""Everything a source provides, fetched and validated together, then written together.

Universe, prices, statements and the benchmark come from one source and must agree with each other,
so they are one Dagster step (a multi-asset): everything is fetched and checked first, and only then
are the six tables (`universe`, `price_history`, `price_rejections`, `fundamental_statements`,
`fundamentals`, `benchmark_history`) written in one DuckDB transaction. A run that fails anywhere
in here, for any reason, leaves every stored table as it was, and says why in plain words.
"""


from datetime import timedelta

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource
from pydantic import Field

from emergent_pipeline import changes
from emergent_pipeline.core.benchmark import equal_weight_index
from emergent_pipeline.core.fundamentals import AvailabilityParams, FundamentalsError, canonical, point_in_time
from emergent_pipeline.core.price_quality import adjust_for_splits, split_jumps
from emergent_pipeline.core.price_update import PriceUpdateError, apply_fetch
from emergent_pipeline.defs.owners import OWNERS
from emergent_pipeline.defs.metadata import date_range, table_metadata, table_preview, tidy
from emergent_pipeline.defs.prices.resources import PriceSourceResource
from emergent_pipeline.sources.file import SourceFileError
from emergent_pipeline.storage import read_table, replace_rows_from, replace_tables, table_exists

GROUP = "prices"
SECTOR_NEEDED_BY = "sector_rotation (ranks sectors), the Shariah activity screen (every symbol UNKNOWN) and the model's sector feature"
# Refreshed every trading day: warn after a missed day, fail after a missed long weekend.
DAILY_FRESHNESS = dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=98), warn_window=timedelta(hours=26))

universe = dg.AssetKey("universe")
price_history = dg.AssetKey("price_history")
fundamentals = dg.AssetKey("fundamentals")
benchmark_history = dg.AssetKey("benchmark_history")
FUNDAMENTALS_SHOWN = ["symbol", "kind", "period_end", "available_from", "eps"]
"""The columns of the fundamentals preview: the point-in-time dates and one figure (the table has them all)."""
SOURCE = "source_data"
"""The name the change log (`emergent_pipeline.changes`) gives to what the source step wrote."""


class SourceConfig(dg.Config):
    """When a statement may be used, and how splits in statements are inferred (`core.fundamentals`)."""

    filing_lag_days: int = Field(default=90, description="Availability = period end + this, where the source has no filing date.")
    max_age_months: int = Field(default=15, description="A statement is not used longer than this after its availability.")
    split_tolerance: float = Field(default=0.10, description="A share-count jump this close to a usual split ratio is a split.")

    def to_params(self) -> AvailabilityParams:
        return AvailabilityParams(self.filing_lag_days, self.max_age_months, self.split_tolerance)


class SourceDataError(ValueError):
    """What a source handed over cannot be stored as it is."""


def checked_universe(members: pd.DataFrame) -> pd.DataFrame:
    if members.empty or members["symbol"].dropna().astype(str).str.strip().eq("").all():
        raise SourceDataError("the source gave no symbol at all (an empty universe)")
    return members


@dg.multi_asset(
    group_name=GROUP,
    can_subset=False,
    specs=[
        dg.AssetSpec(universe, owners=OWNERS[GROUP], kinds={"duckdb", "pandas"},
                     description="The symbols the pipeline covers, with name, sector and sub-industry (GICS, NSE or Yahoo labels), and market cap where known."),
        dg.AssetSpec(price_history, owners=OWNERS[GROUP], kinds={"duckdb", "pandas"}, deps=[universe], freshness_policy=DAILY_FRESHNESS,
                     description="Daily OHLCV bars, one row per (symbol, date); rejected rows are kept in price_rejections with their reason."),
        dg.AssetSpec(fundamentals, owners=OWNERS[GROUP], kinds={"duckdb", "pandas"}, deps=[universe],
                     description="Company statements point in time (available_from → usable_until), EPS and shares on the prices' share basis; "
                                 "the statements as the sources gave them accumulate in fundamental_statements."),
        dg.AssetSpec(benchmark_history, owners=OWNERS[GROUP], kinds={"duckdb", "pandas"}, deps=[price_history],
                     description="The index market context is read from: the configured one, or the universe's equal-weight index."),
    ],
)
def source_data(context: dg.AssetExecutionContext, config: SourceConfig, duckdb: DuckDBResource, price_source: PriceSourceResource):
    """Fetch everything the configured source provides, validate it, then write it in one transaction."""
    source = price_source.build()
    with duckdb.get_connection() as conn:
        # Only an incremental source (yfinance) builds on the stored bars; the others hand over every bar.
        stored_prices = read_table(conn, "price_history") if source.incremental else None
        stored_rows = conn.execute("SELECT count(*) FROM price_history").fetchall()[0][0] if table_exists(conn, "price_history") else 0
        stored_statements, earlier_rejections = (read_table(conn, t) for t in ("fundamental_statements", "price_rejections"))
    try:
        members = checked_universe(source.universe())
        fetch = source.fetch_prices(stored_prices if stored_prices is not None else pd.DataFrame())
        update = apply_fetch(stored_prices, fetch, source.incremental)
        index = source.benchmark()
        origin = "configured index" if index is not None else "equal-weight index of the universe"
        jumps = split_jumps(update.table, index)
        adjusted = price_source.adjusts_splits(source) and len(jumps) > 0
        table = adjust_for_splits(update.table, jumps) if adjusted else update.table
        if index is None:
            index = equal_weight_index(table)
        statements_fetch = source.fundamentals(stored_statements)
        statements = merge_statements(stored_statements, canonical(statements_fetch.statements))
        point_in_time_rows, splits = point_in_time(statements, config.to_params())
    except (PriceUpdateError, SourceDataError, SourceFileError, FundamentalsError, ValueError, KeyError, OSError, RuntimeError) as error:
        # Expected input problems: say what is wrong, plainly; nothing has been written.
        raise dg.Failure(description=f"nothing stored, every table kept as it was: {error}",
                         metadata={**source.describe(), "stored_price_rows_kept": stored_rows}) from error

    detected_at = pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds")
    rejected = update.rejected.astype("string").assign(source=source.name, detected_at=detected_at)
    if source.incremental and earlier_rejections is not None and len(earlier_rejections):
        rejected = pd.concat([earlier_rejections.astype("string"), rejected], ignore_index=True)  # earlier runs' stay on record
    with duckdb.get_connection() as conn:
        whole, changed_from = source_change(conn, members, table, point_in_time_rows, index)
        # The long tables are identical before the first changed day: only the days from it are rewritten.
        dated = {"price_history": table, "benchmark_history": index}

        def and_then(c) -> None:
            if not whole and changed_from is not None:
                for name, frame in dated.items():
                    replace_rows_from(c, name, frame, changed_from)
            changes.log_change(c, SOURCE, changed_from, whole)

        replace_tables(conn, {
            "universe": members, "price_rejections": rejected, "fundamental_statements": statements, "fundamentals": point_in_time_rows,
            **(dated if whole else {}),
        }, then=and_then)
    recompute_note = ("everything downstream recomputes (new store, or the universe changed)" if whole
                      else f"downstream recomputes the days from {changed_from:%Y-%m-%d}" if changed_from is not None
                      else "nothing changed: downstream has nothing to recompute")

    no_sector = int(members["sector"].isna().sum())
    sector_warning = (f"{no_sector} of {len(members)} symbols have no sector: {SECTOR_NEEDED_BY} cannot work for them"
                      if no_sector else "every symbol has a sector")
    if no_sector:
        context.log.warning(sector_warning)
    failures = pd.DataFrame(sorted(update.failures.items()), columns=["symbol", "reason"])
    if len(failures):
        context.log.warning(f"{len(failures)} of {update.requested} symbols failed to download")
    statement_failures = pd.DataFrame(sorted(statements_fetch.failures.items()), columns=["symbol", "reason"])
    yield dg.MaterializeResult(asset_key=universe, metadata=tidy({
        **source.describe(), **table_metadata(duckdb, "universe"),
        "sectors": table_preview(members["sector"].fillna("(none)").value_counts().rename_axis("sector").to_frame("symbols"), rows=100, index=True),
        "missing_sub_industry": int(members["sub_industry"].isna().sum()), "missing_sector": no_sector,
        "sector_warning": sector_warning, "preview": table_preview(members[["symbol", "name", "sector"]]),
    }))
    yield dg.MaterializeResult(asset_key=price_history, metadata=tidy({
        **source.describe(), **table_metadata(duckdb, "price_history", "price_rejections"), "symbols": int(table["symbol"].nunique()),
        "date_range": date_range(table), "newest_date": f"{table['date'].max():%Y-%m-%d}",
        "rows_added": len(update.added), "rows_rejected": len(update.rejected),
        "rejections_by_reason": table_preview(update.rejected["reason"].value_counts().rename_axis("reason").reset_index(name="rows")),
        "rejected_rows": table_preview(update.rejected[["symbol", "date", "reason", "source_row"]], rows=50),
        "symbols_requested": update.requested, "symbols_failed": len(failures), "failed_symbols": table_preview(failures, rows=50),
        "refetched_for_splits": ", ".join(sorted(fetch.replaced)) or "none",
        "split_jumps": table_preview(jumps[["symbol", "date", "ratio", "index_move"]], rows=50),
        "changed_from": recompute_note,
        "split_adjustment": (f"{len(jumps)} split-like jumps adjusted (bars before each divided by its ratio, volumes multiplied)"
                             if adjusted else f"{len(jumps)} split-like jumps, not adjusted (the price_history_split_jumps check blocks on them)"
                             if len(jumps) else "no split-like jump"),
        "preview": table_preview(table.loc[table["date"] == table["date"].max(), ["symbol", "date", "close", "volume"]]),
    }))
    kinds = point_in_time_rows["kind"].value_counts().to_dict() if len(point_in_time_rows) else {}
    yield dg.MaterializeResult(asset_key=fundamentals, metadata=tidy({
        **table_metadata(duckdb, "fundamentals", "fundamental_statements"),
        "symbols": int(point_in_time_rows["symbol"].nunique()) if len(point_in_time_rows) else 0,
        "statements_by_kind": dg.MetadataValue.json({str(k): int(v) for k, v in kinds.items()}),
        "statements_fetched": len(statements_fetch.statements),
        "period_ends": date_range(point_in_time_rows, "period_end") if len(point_in_time_rows) else "none",
        "availability": f"filing date, else period end + {config.filing_lag_days} days; usable for {config.max_age_months} months at most",
        "share_counts_carried": int((point_in_time_rows["shares_from_period_end"] < point_in_time_rows["period_end"]).sum()) if len(point_in_time_rows) else 0,
        "inferred_splits": len(splits), "splits": table_preview(splits, rows=60),
        "symbols_failed": len(statement_failures), "failed_symbols": table_preview(statement_failures, rows=50),
        "preview": table_preview(point_in_time_rows.loc[point_in_time_rows["symbol"] == point_in_time_rows["symbol"].iloc[0], FUNDAMENTALS_SHOWN]
                              if len(point_in_time_rows) else point_in_time_rows),
    }))
    yield dg.MaterializeResult(asset_key=benchmark_history, metadata=tidy({
        "origin": origin, **table_metadata(duckdb, "benchmark_history"), "date_range": date_range(index), "preview": table_preview(index.tail(5)[["date", "close", "volume"]]),
    }))


def source_change(conn, members: pd.DataFrame, prices: pd.DataFrame, statements: pd.DataFrame,
                  index: pd.DataFrame) -> tuple[bool, pd.Timestamp | None]:
    """(whole, first changed day) of what this fetch changes against the stored tables: a changed
    universe (sectors, names) changes every day; prices and the index from their first differing
    day; a statement from the day it became available."""
    found = [changes.first_changed_day(conn, "universe", members, None),
             changes.first_changed_day(conn, "price_history", prices, "date"),
             changes.first_changed_day(conn, "fundamentals", statements, "available_from"),
             changes.first_changed_day(conn, "benchmark_history", index, "date")]
    days = [day for _, day in found if day is not None]
    return any(whole for whole, _ in found), min(days) if days else None


def merge_statements(stored: pd.DataFrame | None, fresh: pd.DataFrame) -> pd.DataFrame:
    """The stored statements with the fresh ones added; a fresh (symbol, kind, period) replaces the stored one."""
    if stored is None or stored.empty:
        return fresh
    if fresh.empty:
        return canonical(stored)
    base = canonical(stored)
    key = pd.MultiIndex.from_frame(fresh[["symbol", "kind", "period_end"]])
    kept = base.loc[~pd.MultiIndex.from_frame(base[["symbol", "kind", "period_end"]]).isin(key)]
    return canonical(pd.concat([kept, fresh], ignore_index=True))
