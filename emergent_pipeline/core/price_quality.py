"""Finders for suspicious bars in a stored OHLCV table; the asset checks show what they return.

Each function returns the offending rows (empty when all is well), so a check can both decide and
show the user exactly which bars are at fault.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from emergent_pipeline.core.fundamentals import SPLIT_RATIOS
from emergent_pipeline.core.ohlcv import PRICE_COLUMNS


def duplicate_keys(prices: pd.DataFrame) -> pd.DataFrame:
    """Every row whose (symbol, date) occurs more than once."""
    return prices.loc[prices.duplicated(["symbol", "date"], keep=False)]


def non_positive_prices(prices: pd.DataFrame) -> pd.DataFrame:
    """Rows with an open, high, low or close at or below zero."""
    return prices.loc[(prices[PRICE_COLUMNS] <= 0).any(axis=1)]


def ohlc_inconsistencies(prices: pd.DataFrame) -> pd.DataFrame:
    """Bars whose open, high, low and close do not fit together, with the ``problem`` named.

    A consistent bar has low <= open, close <= high. A bar missing its open, high or low is
    reported too: the close alone is usable, the range is not.
    """
    high, low = prices["high"], prices["low"]
    problems = [
        ("missing open/high/low", prices[["open", "high", "low"]].isna().any(axis=1)),
        ("high below low", high < low),
        ("open outside [low, high]", (prices["open"] > high) | (prices["open"] < low)),
        ("close outside [low, high]", (prices["close"] > high) | (prices["close"] < low)),
    ]
    problem = pd.Series(pd.NA, index=prices.index, dtype="object")
    for label, mask in reversed(problems):
        problem = problem.mask(mask.to_numpy(), label)
    found = prices.loc[problem.notna()].copy()
    found["problem"] = problem[problem.notna()].astype(str)
    return found


def extreme_moves(prices: pd.DataFrame, threshold: float = 0.40) -> pd.DataFrame:
    """Close-to-close moves larger than ``threshold`` in absolute value, per symbol.

    Real events (spin-offs the source did not adjust, bad prints) show up here; they are real
    data, so the check warns rather than blocks.
    """
    ordered = prices.sort_values(["symbol", "date"], kind="mergesort")
    previous_close = ordered.groupby("symbol", sort=False)["close"].shift(1)
    move = ordered["close"] / previous_close - 1.0
    found = ordered.loc[move.abs() > threshold].copy()
    found.insert(found.columns.get_loc("close") + 1, "previous_close", previous_close[found.index])
    found["move"] = move[found.index]
    return found


def stale_symbols(
    prices: pd.DataFrame, reference_date: pd.Timestamp, max_lag_business_days: int
) -> pd.DataFrame:
    """Symbols whose newest bar is more than ``max_lag_business_days`` business days before
    ``reference_date`` (today for a live source, the panel's newest day for a fixed one)."""
    last = prices.groupby("symbol", sort=True)["date"].max()
    lag = pd.Series(
        np.busday_count(
            last.to_numpy().astype("datetime64[D]"),
            np.datetime64(pd.Timestamp(reference_date).date(), "D"),
        ),
        index=last.index,
    )
    stale = lag[lag > max_lag_business_days]
    return pd.DataFrame(
        {"symbol": stale.index, "last_date": last[stale.index].to_numpy(), "business_days_behind": stale.to_numpy()}
    )


def split_jumps(prices: pd.DataFrame, benchmark: pd.DataFrame | None, tolerance: float = 0.05,
                max_index_move: float = 0.05) -> pd.DataFrame:
    """Jumps that look like a share split the prices were not adjusted for. An unadjusted split shows
    at the open: the previous close over the open, and over the close, are both within
    ``tolerance`` of a usual split ratio (``core.fundamentals.SPLIT_RATIOS``; inverted for a reverse
    split), on a day the index moved less than ``max_index_move``. Without a ``benchmark`` the
    market's move is the median of the symbols' moves that day: an equal-weight index would move
    with the very jump it is meant to rule out. A crash of a third (CHK, WMB on
    2016-02-08) opens lower and falls through the day; it is not a split. Without an open, the close
    alone must be within a fifth of ``tolerance``. Rows: symbol, date, previous_close, open, close,
    ratio (new shares per old: > 1 a split, < 1 a reverse split), index_move."""
    ordered = prices.sort_values(["symbol", "date"], kind="mergesort")
    previous = ordered.groupby("symbol", sort=False)["close"].shift(1).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        at_close = np.log(previous / ordered["close"].to_numpy())
        at_open = np.log(previous / ordered["open"].to_numpy())
    logs = np.log(np.asarray(SPLIT_RATIOS))
    nearest = logs[np.abs(np.abs(np.nan_to_num(at_close))[:, None] - logs[None, :]).argmin(axis=1)]
    close_matches = np.abs(np.abs(at_close) - nearest)
    open_matches = np.abs(at_open - np.sign(at_close) * nearest)
    has_open = np.isfinite(at_open)
    matches = np.where(has_open, (close_matches <= np.log1p(tolerance)) & (open_matches <= np.log1p(tolerance)),
                       close_matches <= np.log1p(tolerance / 5))
    if benchmark is not None and len(benchmark):
        index = benchmark.set_index("date")["close"].sort_index()
        market = index / index.shift(1) - 1.0
    else:
        market = pd.Series(np.exp(-at_close) - 1.0, index=ordered["date"].to_numpy()).groupby(level=0).median()
    index_move = market.reindex(ordered["date"]).fillna(0.0).to_numpy()
    found = matches & np.isfinite(at_close) & (np.abs(index_move) < max_index_move)
    rows = ordered.loc[found, ["symbol", "date", "open", "close"]].copy()
    rows.insert(2, "previous_close", previous[found])
    rows["ratio"] = np.exp(np.sign(at_close[found]) * nearest[found])
    rows["index_move"] = index_move[found]
    return rows.reset_index(drop=True)


def adjust_for_splits(prices: pd.DataFrame, jumps: pd.DataFrame) -> pd.DataFrame:
    """``prices`` with every bar before a jump of ``split_jumps`` put on the basis after it (prices
    divided by the ratio, volume multiplied), as a split-adjusting vendor would."""
    if jumps.empty:
        return prices
    keyed = prices[["symbol", "date"]].reset_index().merge(jumps[["symbol", "date", "ratio"]].rename(columns={"date": "jump"}), on="symbol")
    factor = keyed[keyed["date"] < keyed["jump"]].groupby("index")["ratio"].prod()
    ratio = pd.Series(1.0, index=prices.index)
    ratio[factor.index] = factor.to_numpy()
    adjusted = prices.copy()
    for column in PRICE_COLUMNS:
        adjusted[column] = prices[column] / ratio
    adjusted["volume"] = prices["volume"] * ratio
    return adjusted
