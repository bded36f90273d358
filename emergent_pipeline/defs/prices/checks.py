"""Data-quality checks on `price_history`; each shows the offending rows in its metadata.

Which checks block downstream assets, and why:
- duplicate keys and non-positive prices BLOCK: a repeated bar double-counts a day in every rolling
  window, and a zero or negative price makes returns and logs meaningless, so signals computed on
  them would be wrong, not merely noisy. The row rules at ingestion reject both, so a failure here
  means the table was written by something else and must be looked at before anything builds on it.
- split-like jumps BLOCK: prices on two share bases (a split the source did not adjust, two vendors
  joined) fake a -50 % or -86 % day that labels would count as a loss and indicators as a crash.
  Configure the source to adjust them (`price_source.adjust_splits`) or fix the file.
- OHLC consistency, staleness and extreme moves WARN: a bar whose open or close lies outside its own
  low-high range is rejected at ingestion (`price_rejections`) and so excluded from indicators and
  outcomes; what remains here are incomplete bars (a close without its range), which the indicators
  treat as flat. Staleness and moves are real and rare (spin-offs the source did not adjust such as
  EBAY 2015-07-20 and BAX 2015-07-01); the user sees the rows here.

What is read: a daily refresh changes one day, so the checks read only the days the source step's
newest change wrote, with :data:`CHECK_LOOKBACK_DAYS` trading days before them (the split rule's
volume medians and reversal look around a jump, a move needs the previous close); staleness reads
each symbol's newest day over the whole table, in SQL. They read every day when the source rewrote
everything, when no change is logged (a table written by something else), on the first new day of a
month (a periodic full check, which also covers a run that left the checks out), and when asked
(`full: true`).
"""


from collections.abc import Iterable

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from pydantic import Field

from emergent_pipeline.core import price_quality
from emergent_pipeline.core.price_quality import EXTREME_MOVE
from emergent_pipeline.core.corporate_actions import SplitRule, split_jumps
from emergent_pipeline.defs.incremental import checked_since
from emergent_pipeline.defs.metadata import table_preview
from emergent_pipeline.defs.prices.assets import SOURCE, price_history
from emergent_pipeline.defs.prices.resources import PriceSourceResource
from emergent_pipeline.storage import read_table, table_exists

SHOWN_ROWS = 50
CHECK_LOOKBACK_DAYS = 2 * (SplitRule.volume_days + SplitRule.reversal_days)
"""Trading days read before the first changed day: twice what the split rule looks at around a jump
(volume medians on both sides, the reversal after it). A jump whose verdict the change can alter lies
at most that far before it, and is judged with its whole context read; the read's first days, with
less than a volume median before them, are not judged (``split_jumps(judged_whole_only=True)``): a
median of fewer days would give another verdict than the whole history's."""


class PriceChecksConfig(dg.Config):
    full: bool = Field(default=False, description="Check every stored day, not only the days the newest change wrote.")


SPECS = [
    dg.AssetCheckSpec("price_history_unique_keys", asset=price_history, blocking=True, description="No (symbol, date) occurs twice."),
    dg.AssetCheckSpec("price_history_positive_prices", asset=price_history, blocking=True,
                      description="Every open, high, low and close is above zero."),
    dg.AssetCheckSpec("price_history_ohlc_consistency", asset=price_history,
                      description="low <= open, close <= high, and the range is complete."),
    dg.AssetCheckSpec("price_history_split_jumps", asset=price_history, blocking=True,
                      description="No corporate action left unadjusted: a day whose open and close sit a bonus or split ratio away from the "
                                  "previous close (allowing for the market), on a calm volume that shifts by the ratio, and that holds."),
    dg.AssetCheckSpec("price_history_freshness", asset=price_history, description="No symbol's newest bar lags behind."),
    dg.AssetCheckSpec("price_history_extreme_moves", asset=price_history,
                      description=f"No one-day close-to-close move beyond ±{EXTREME_MOVE:.0%}."),
]


def _result(name: str, found: pd.DataFrame, severity: dg.AssetCheckSeverity, what: str, **extra) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=name,
        passed=found.empty,
        severity=severity,
        description=f"{len(found)} {what}" if len(found) else f"no {what}",
        metadata={"offending_rows": len(found), "rows": table_preview(found, rows=SHOWN_ROWS), **extra},
    )


@dg.multi_asset_check(specs=SPECS, can_subset=True)
def price_history_checks(context: dg.AssetCheckExecutionContext, config: PriceChecksConfig, duckdb: DuckDBResource,
                         price_source: PriceSourceResource) -> Iterable[dg.AssetCheckResult]:
    """The six checks of `price_history` in one step: the days to check are read once, not once per check."""
    with duckdb.get_connection() as conn:
        if not table_exists(conn, "price_history"):
            raise dg.Failure("price_history has not been materialized yet")
        since, checked = checked_days(conn, config.full)
        prices, index = read_table(conn, "price_history", since=since), read_table(conn, "benchmark_history", since=since)
        rejections = read_table(conn, "price_rejections")  # a short table, counted whole
        newest_bars = conn.execute("SELECT symbol, max(date)::TIMESTAMP AS date FROM price_history GROUP BY symbol").df()
    selected = {key.name for key in context.selected_asset_check_keys}
    checks = {
        "price_history_unique_keys": lambda: _result(
            "price_history_unique_keys", price_quality.duplicate_keys(prices), dg.AssetCheckSeverity.ERROR, "rows with a duplicated (symbol, date)", checked=checked),
        "price_history_positive_prices": lambda: _result(
            "price_history_positive_prices", price_quality.non_positive_prices(prices), dg.AssetCheckSeverity.ERROR, "rows with a non-positive price", checked=checked),
        "price_history_ohlc_consistency": lambda: ohlc_consistency(prices, rejections, checked),
        "price_history_split_jumps": lambda: _result(
            "price_history_split_jumps", split_jumps(prices, index if price_source.has_index else None, judged_whole_only=since is not None),
            dg.AssetCheckSeverity.ERROR, "split-like jumps (prices on two share bases)", checked=checked,
            remedy="list them in a corporate-actions file (price_source.config.corporate_actions_path: symbol, ex_date, ratio), "
                   "or set price_source.config.adjust_splits: true to adjust what the rule found, or give prices on one basis"),
        "price_history_freshness": lambda: freshness(newest_bars, price_source),
        "price_history_extreme_moves": lambda: _result(
            "price_history_extreme_moves", price_quality.extreme_moves(prices, EXTREME_MOVE), dg.AssetCheckSeverity.WARN,
            f"one-day moves beyond ±{EXTREME_MOVE:.0%}", threshold=EXTREME_MOVE, checked=checked),
    }
    for spec in SPECS:
        if spec.name in selected:
            yield checks[spec.name]()


def checked_days(conn, full: bool) -> tuple[pd.Timestamp | None, str]:
    """(first day to read, what is checked): None for every day; see the module's docstring."""
    return checked_since(conn, SOURCE, full, CHECK_LOOKBACK_DAYS)


def ohlc_consistency(prices: pd.DataFrame, rejections: pd.DataFrame | None, checked: str) -> dg.AssetCheckResult:
    found = price_quality.ohlc_inconsistencies(prices)
    by_problem = found["problem"].value_counts().to_dict() if len(found) else {}
    excluded = rejections[rejections["reason"].isin(["open or close outside the bar's low-high range", "high below low"])] if rejections is not None else pd.DataFrame()
    return _result("price_history_ohlc_consistency", found, dg.AssetCheckSeverity.WARN, "bars whose OHLC do not fit together",
                   by_problem=dg.MetadataValue.json(by_problem), excluded_at_ingestion=len(excluded),
                   excluded_rows=table_preview(excluded, rows=SHOWN_ROWS), checked=checked,
                   rule="a bar with its open or close outside its own low-high range (or its high below its low) is rejected at "
                        "ingestion, so excluded from indicators and outcomes; an incomplete bar stays, treated as flat by the indicators")


def freshness(prices: pd.DataFrame, price_source: PriceSourceResource) -> dg.AssetCheckResult:
    """Judged on each symbol's newest bar (``prices`` may hold only those)."""
    source = price_source.build()
    # A live source should have the last business day; a fixed panel is judged against its own end.
    reference = pd.Timestamp.today().normalize() if source.live else pd.Timestamp(prices["date"].max())
    found = price_quality.stale_symbols(prices, reference, price_source.stale_after_business_days)
    return _result("price_history_freshness", found, dg.AssetCheckSeverity.WARN, "stale symbols",
                   reference_date=f"{reference:%Y-%m-%d}", newest_date=f"{prices['date'].max():%Y-%m-%d}",
                   max_lag_business_days=price_source.stale_after_business_days)
