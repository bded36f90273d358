"""Finders for suspicious bars in a stored OHLCV table; the asset checks show what they return.

Each function returns the offending rows (empty when all is well), so a check can both decide and
show the user exactly which bars are at fault.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

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


EXTREME_MOVE = 0.40
"""A one-day close-to-close move beyond this is extreme: the check warns, and the labels treat the
signals whose path crosses it as suspect (``core.outcomes``)."""


def extreme_moves(prices: pd.DataFrame, threshold: float = EXTREME_MOVE) -> pd.DataFrame:
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
