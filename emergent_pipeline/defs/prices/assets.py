"""Everything a source provides, fetched and validated together, then written together.

Universe, prices, statements and the benchmark come from one source and must agree with each other,
so they are one Dagster step (a multi-asset): everything is fetched and checked first, and only then
are the six tables (`universe`, `price_history`, `price_rejections`, `fundamental_statements`,
`fundamentals`, `benchmark_history`) and the bars' fingerprints written in one DuckDB transaction. A run that fails anywhere
in here, for any reason, leaves every stored table as it was, and says why in plain words.
"""


from dataclasses import dataclass, replace
from datetime import timedelta

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource
from pydantic import Field

from emergent_pipeline import changes
from emergent_pipeline.core.benchmark import equal_weight_index
from emergent_pipeline.core.fundamentals import AvailabilityParams, FundamentalsError, canonical, merge_statements, point_in_time
from emergent_pipeline.core.corporate_actions import (
    CorporateActionsError, adjust_detected_splits, adjust_for_splits, corporate_actions, listed_on_days, split_jumps,
)
from emergent_pipeline.core.price_append import hashed_bars
from emergent_pipeline.core.price_update import PriceFetch, PriceUpdate, PriceUpdateError, apply_fetch
from emergent_pipeline.defs.owners import OWNERS
from emergent_pipeline.defs.metadata import date_range, table_metadata, table_preview, tidy
from emergent_pipeline.defs.prices.append import FINGERPRINTS, fingerprints_of, read_fingerprints, try_append
from emergent_pipeline.defs.prices.resources import PriceSourceResource
from emergent_pipeline.sources.base import FundamentalsFetch
from emergent_pipeline.sources.file import SourceFileError
from emergent_pipeline.sources.yfinance_source import YahooDownloadError
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
EQUAL_WEIGHT = "the universe's equal-weight index"
"""The index market context is read from when the source has none (``core.benchmark.equal_weight_index``)."""
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
        stored_fingerprints = None if source.incremental else read_fingerprints(conn)
    try:
        fetched = fetch_from(source, price_source, config, stored_prices, stored_statements, duckdb, stored_fingerprints)
    except INPUT_PROBLEMS as error:
        # What a source or a user's file can get wrong, in plain words; nothing has been written. Any
        # other exception is a bug and surfaces as one, with its traceback in the run log.
        raise dg.Failure(description=f"nothing stored, every table kept as it was: {error}",
                         metadata={**source.describe(), "stored_price_rows_kept": stored_rows}) from error
    recompute_note, rows_added = store_source(duckdb, source, fetched, earlier_rejections)
    yield from describe_source(context, duckdb, source, fetched, config, recompute_note, rows_added)


INPUT_PROBLEMS = (PriceUpdateError, SourceDataError, SourceFileError, FundamentalsError, CorporateActionsError, YahooDownloadError,
                  ValueError, OSError)
"""The errors a source's data or a user's file cause (a bad value, a missing column, a file that is not
there, a download that failed): reported as input problems. A KeyError or a RuntimeError is a bug."""


@dataclass
class Fetched:
    """Everything one source handed over, validated: what the four assets store."""

    members: pd.DataFrame
    fetch: PriceFetch
    update: PriceUpdate
    table: pd.DataFrame
    """The prices to store: the listed corporate actions applied, the detected ones too when ``adjusted``."""
    listed: pd.DataFrame
    """The source's listed corporate actions applied (symbol, date, ratio)."""
    unmatched: pd.DataFrame
    """Listed actions whose symbol or ex-date the prices do not have."""
    jumps: pd.DataFrame
    adjusted: bool
    index: pd.DataFrame
    origin: str
    statements_fetch: FundamentalsFetch
    statements: pd.DataFrame
    point_in_time_rows: pd.DataFrame
    splits: pd.DataFrame
    fingerprints: pd.DataFrame | None = None
    """Each symbol's fingerprint (``core.price_append``), for a source that hands over its whole history."""
    appended: bool = False
    """``table`` (and an equal-weight ``index``) hold only the days added to an unchanged stored history."""
    processed: str = "the whole history"
    """Which bars were split-checked and adjusted, and why, in words."""


def fetch_from(source, price_source: PriceSourceResource, config: SourceConfig, stored_prices: pd.DataFrame | None,
               stored_statements: pd.DataFrame | None, duckdb: DuckDBResource | None = None,
               stored_fingerprints: pd.DataFrame | None = None) -> Fetched:
    """Fetch the universe, prices, index and statements, and validate them together (nothing is
    written). A source that hands over its whole history and only added days to the stored one has
    only those days split-checked (``defs.prices.append``); otherwise the whole history is."""
    members = checked_universe(source.universe())
    fetch = source.fetch_prices(stored_prices if stored_prices is not None else pd.DataFrame())
    update = apply_fetch(stored_prices, fetch, source.incremental)
    fetch = replace(fetch, raw=fetch.raw.iloc[:0])  # validated: the raw bars (a whole file's) are not read again
    index = source.benchmark()
    origin = source.index_name() if index is not None else EQUAL_WEIGHT
    listed, unmatched = listed_actions(source, update.table, stored_prices)
    statements_fetch = source.fundamentals(stored_statements)
    statements = merge_statements(stored_statements, canonical(statements_fetch.statements))
    point_in_time_rows, splits = point_in_time(statements, config.to_params())
    validated = update.table
    # What the steps after this one read of the update: its rejections and failures, not its bars
    # (the table to store is returned on its own), so a whole file's bars are not held twice.
    update = replace(update, table=validated.iloc[:0], added=validated.iloc[:0])
    parts = dict(members=members, fetch=fetch, update=update, listed=listed, unmatched=unmatched, origin=origin,
                 statements_fetch=statements_fetch, statements=statements, point_in_time_rows=point_in_time_rows, splits=splits)
    adjusts = price_source.adjusts_splits(source)
    hashed = None if source.incremental else hashed_bars(validated)
    fingerprints = None if hashed is None else fingerprints_of(validated, listed, adjusts, origin, hashed)
    why = "the source adds days to the stored ones itself"
    if fingerprints is not None and duckdb is not None:
        appended, why = try_append(duckdb, members, validated, hashed, fingerprints, stored_fingerprints, index, origin)
        if appended is not None:
            index = appended.index.assign(index_name=origin)
            return Fetched(**parts, table=appended.table, jumps=appended.jumps, adjusted=False, index=index, fingerprints=fingerprints,
                           appended=True, processed="only the new days: the stored ones are unchanged in the source")
    table = adjust_for_splits(validated, listed)  # the source's own list first: the source of truth
    del validated, hashed
    jumps = split_jumps(table, index)
    adjusted = adjusts and len(jumps) > 0
    if adjusted:
        table, jumps = adjust_detected_splits(table, index, jumps)
    if index is None:
        index = equal_weight_index(table)
    return Fetched(**parts, table=table, jumps=jumps, adjusted=adjusted, index=index.assign(index_name=origin),
                   fingerprints=fingerprints, processed=f"the whole history ({why})")


def listed_actions(source, prices: pd.DataFrame, stored_prices: pd.DataFrame | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(applied, unmatched) of the corporate actions the source lists. An incremental source adds days
    to a history adjusted before: only its actions after the stored newest day apply."""
    raw = source.corporate_actions()
    if raw is None:
        empty = pd.DataFrame({"symbol": pd.Series(dtype="string"), "date": pd.Series(dtype="datetime64[ns]"), "ratio": pd.Series(dtype="float64")})
        return empty, empty
    after = stored_prices["date"].max() if source.incremental and stored_prices is not None and len(stored_prices) else None
    return listed_on_days(prices, corporate_actions(raw), after)


def store_source(duckdb: DuckDBResource, source, fetched: Fetched, earlier_rejections: pd.DataFrame | None) -> tuple[str, int]:
    """Write the six tables in one transaction (the long ones only from their first changed day, with
    the change log); say what downstream recomputes, and how many price rows are new (a file source
    hands over every bar each time: the rows added are those the store did not have)."""
    detected_at = pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds")
    rejected = fetched.update.rejected.astype("string").assign(source=source.name, detected_at=detected_at)
    if source.incremental and earlier_rejections is not None and len(earlier_rejections):
        rejected = pd.concat([earlier_rejections.astype("string"), rejected], ignore_index=True)  # earlier runs' stay on record
    with duckdb.get_connection() as conn:
        rows_added = new_price_rows(conn, fetched.table)
        whole, first_days = source_change(conn, fetched)
        changed_from = min((day for day in first_days.values() if day is not None), default=None)
        # The long tables are identical before their first changed day: only the days from it are rewritten.
        dated = {"price_history": fetched.table, "benchmark_history": fetched.index}

        def and_then(c) -> None:
            if not whole:
                for name, frame in dated.items():
                    if first_days[name] is not None:
                        replace_rows_from(c, name, frame, first_days[name])
            if fetched.fingerprints is None:
                c.execute(f"DROP TABLE IF EXISTS {FINGERPRINTS}")  # an incremental source writes bars no fingerprint knows
            changes.log_change(c, SOURCE, changed_from, whole)

        replace_tables(conn, {
            "universe": fetched.members, "price_rejections": rejected, "fundamental_statements": fetched.statements,
            "fundamentals": fetched.point_in_time_rows, **(dated if whole else {}),
            **({FINGERPRINTS: fetched.fingerprints} if fetched.fingerprints is not None else {}),
        }, then=and_then)
    return ("everything downstream recomputes (new store, or the universe changed)" if whole
            else f"downstream recomputes the days from {changed_from:%Y-%m-%d}" if changed_from is not None
            else "nothing changed: downstream has nothing to recompute"), rows_added


def new_price_rows(conn, table: pd.DataFrame) -> int:
    """How many (symbol, date) of ``table`` the stored price history does not have (in SQL: the stored
    history is not read into memory)."""
    if not table_exists(conn, "price_history"):
        return len(table)
    conn.register("fresh_keys", table[["symbol", "date"]])
    try:
        return conn.execute("SELECT count(*) FROM fresh_keys f ANTI JOIN price_history p ON p.symbol = f.symbol AND p.date = f.date::DATE"
                            ).fetchall()[0][0]  # fetched whole: no result left open on the connection
    finally:
        conn.unregister("fresh_keys")


def describe_source(context: dg.AssetExecutionContext, duckdb: DuckDBResource, source, fetched: Fetched, config: SourceConfig,
                    recompute_note: str, rows_added: int):
    """The materialization of each of the four assets, with what a person checks first."""
    members, update, table, jumps = fetched.members, fetched.update, fetched.table, fetched.jumps
    no_sector = int(members["sector"].isna().sum())
    sector_warning = (f"{no_sector} of {len(members)} symbols have no sector: {SECTOR_NEEDED_BY} cannot work for them"
                      if no_sector else "every symbol has a sector")
    if no_sector:
        context.log.warning(sector_warning)
    failures = pd.DataFrame(sorted(update.failures.items()), columns=["symbol", "reason"])
    if len(failures):
        context.log.warning(f"{len(failures)} of {update.requested} symbols failed to download")
    yield dg.MaterializeResult(asset_key=universe, metadata=tidy({
        **source.describe(), **table_metadata(duckdb, "universe"),
        "sectors": table_preview(members["sector"].fillna("(none)").value_counts().rename_axis("sector").to_frame("symbols"), rows=100, index=True),
        "missing_sub_industry": int(members["sub_industry"].isna().sum()), "missing_sector": no_sector,
        "sector_warning": sector_warning, "preview": table_preview(members[["symbol", "name", "sector"]]),
    }))
    with duckdb.get_connection() as conn:  # from the store: an appended fetch holds only the new days
        symbols, first_day, newest_day = conn.execute("SELECT count(DISTINCT symbol), min(date), max(date) FROM price_history").fetchall()[0]
        newest = conn.execute("SELECT symbol, date, close, volume FROM price_history WHERE date = ? ORDER BY symbol", [newest_day]).df()
        index = conn.execute("SELECT date, close, volume FROM benchmark_history ORDER BY date").df()
    yield dg.MaterializeResult(asset_key=price_history, metadata=tidy({
        **source.describe(), **table_metadata(duckdb, "price_history", "price_rejections", FINGERPRINTS), "symbols": int(symbols),
        "date_range": f"{first_day:%Y-%m-%d} → {newest_day:%Y-%m-%d}", "newest_date": f"{newest_day:%Y-%m-%d}",
        "bars_processed": fetched.processed, "bars_split_checked": len(table),
        "rows_added": rows_added, "rows_rejected": len(update.rejected),
        "rejections_by_reason": table_preview(update.rejected["reason"].value_counts().rename_axis("reason").reset_index(name="rows")),
        "rejected_rows": table_preview(update.rejected[["symbol", "date", "reason", "source_row"]], rows=50),
        "symbols_requested": update.requested, "symbols_failed": len(failures), "failed_symbols": table_preview(failures, rows=50),
        "refetched_for_splits": ", ".join(sorted(fetched.fetch.replaced)) or "none",
        "corporate_actions": table_preview(pd.concat([fetched.listed.assign(how="listed by the source"),
                                                      jumps[["symbol", "date", "ratio"]].assign(how="detected" + (", adjusted" if fetched.adjusted else ""))],
                                                     ignore_index=True), rows=50),
        "split_jumps": table_preview(jumps[["symbol", "date", "ratio", "index_move", "volume_shift"]], rows=50),
        "listed_but_not_in_prices": table_preview(fetched.unmatched, rows=50),
        "changed_from": recompute_note,
        "split_adjustment": split_adjustment(fetched),
        "preview": table_preview(newest),
    }))
    yield dg.MaterializeResult(asset_key=fundamentals, metadata=tidy(fundamentals_metadata(duckdb, fetched, config)))
    yield dg.MaterializeResult(asset_key=benchmark_history, metadata=tidy({
        "origin": fetched.origin, **table_metadata(duckdb, "benchmark_history"), "date_range": date_range(index),
        "preview": table_preview(index.tail(5)),
    }))


def split_adjustment(fetched: Fetched) -> str:
    """What was done about corporate actions, in a sentence."""
    listed, detected = len(fetched.listed), len(fetched.jumps)
    parts = [f"{listed} listed corporate action{'s' if listed != 1 else ''} applied"] if listed else []
    if detected:
        parts.append(f"{detected} split-like jumps adjusted (bars before each divided by its ratio, volumes multiplied)" if fetched.adjusted
                     else f"{detected} split-like jumps, not adjusted (the price_history_split_jumps check blocks on them)")
    return "; ".join(parts) or "no corporate action, listed or split-like"


def fundamentals_metadata(duckdb: DuckDBResource, fetched: Fetched, config: SourceConfig) -> dict:
    rows, splits = fetched.point_in_time_rows, fetched.splits
    statement_failures = pd.DataFrame(sorted(fetched.statements_fetch.failures.items()), columns=["symbol", "reason"])
    kinds = rows["kind"].value_counts().to_dict() if len(rows) else {}
    return {
        **table_metadata(duckdb, "fundamentals", "fundamental_statements"),
        "symbols": int(rows["symbol"].nunique()) if len(rows) else 0,
        "statements_by_kind": dg.MetadataValue.json({str(k): int(v) for k, v in kinds.items()}),
        "statements_fetched": len(fetched.statements_fetch.statements),
        "period_ends": date_range(rows, "period_end") if len(rows) else "none",
        "availability": f"filing date, else period end + {config.filing_lag_days} days; usable for {config.max_age_months} months at most",
        "share_counts_carried": int((rows["shares_from_period_end"] < rows["period_end"]).sum()) if len(rows) else 0,
        "inferred_splits": len(splits), "splits": table_preview(splits, rows=60),
        "symbols_failed": len(statement_failures), "failed_symbols": table_preview(statement_failures, rows=50),
        "preview": table_preview(rows.loc[rows["symbol"] == rows["symbol"].iloc[0], FUNDAMENTALS_SHOWN] if len(rows) else rows),
    }


def source_change(conn, fetched: Fetched) -> tuple[bool, dict[str, pd.Timestamp | None]]:
    """(whole, each table's first changed day) of what this fetch changes against the stored tables:
    a changed universe (sectors, names) changes every day; prices and the index from their first
    differing day (the first new day when only days were added); a statement from the day it became
    available."""
    whole_universe, _ = changes.first_changed_day(conn, "universe", fetched.members, None)
    whole_statements, statements_day = changes.first_changed_day(conn, "fundamentals", fetched.point_in_time_rows, "available_from")
    if fetched.appended:
        prices = (False, fetched.table["date"].min() if len(fetched.table) else None)
        index = (False, fetched.index["date"].min() if len(fetched.index) else None) if fetched.origin == EQUAL_WEIGHT else \
            changes.first_changed_day(conn, "benchmark_history", fetched.index, "date", key=["date"])
    else:
        prices = changes.first_changed_day(conn, "price_history", fetched.table, "date", key=["symbol", "date"])
        index = changes.first_changed_day(conn, "benchmark_history", fetched.index, "date", key=["date"])
    whole = whole_universe or whole_statements or prices[0] or index[0]
    return whole, {"price_history": prices[1], "benchmark_history": index[1], "fundamentals": statements_day}
