"""The benchmark series market context is computed from.

When no index is configured (a user's own file of prices), the universe's equal-weight index
stands in: each day, the mean of the members' close-to-close returns, compounded from 100.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

BENCHMARK_COLUMNS = ["date", "open", "high", "low", "close", "volume"]


def equal_weight_index(prices: pd.DataFrame, base: float = 100.0) -> pd.DataFrame:
    """Equal-weight index of the symbols in ``prices`` (long OHLCV), one row per trading day.

    A symbol counts on a day only when it has a close on that day and the previous one it traded,
    so members that list late or have gaps neither jump nor drag the index. Only ``close`` is
    defined; open, high, low and volume stay missing.
    """
    closes = close_matrix(prices)
    daily_return = closes.pct_change(fill_method=None).mean(axis=1, skipna=True).fillna(0.0)
    close = base * (1.0 + daily_return).cumprod()
    frame = pd.DataFrame({"date": close.index, "close": close.to_numpy()})
    for column in ["open", "high", "low", "volume"]:
        frame[column] = float("nan")
    return frame[BENCHMARK_COLUMNS]


def close_matrix(prices: pd.DataFrame) -> pd.DataFrame:
    """The closes as a (date × symbol) frame, both sorted, missing where a symbol has no bar; the
    last row of a repeated (symbol, date) wins. What ``pivot_table(aggfunc="last")`` gives, placed
    by numpy indexing instead of a group-by (seconds on a long history)."""
    day_codes, days = pd.factorize(prices["date"], sort=True)
    symbol_codes, symbols = pd.factorize(prices["symbol"], sort=True)
    matrix = np.full((len(days), len(symbols)), np.nan)
    close = prices["close"].to_numpy(dtype="float64")
    cell = day_codes.astype("int64") * len(symbols) + symbol_codes
    known = ~np.isnan(close)  # pivot_table's "last" skips a missing close
    cell, close = cell[known], close[known]
    last = ~pd.Series(cell).duplicated(keep="last").to_numpy()  # numpy does not say which repeated index an assignment keeps
    matrix.ravel()[cell[last]] = close[last]
    frame = pd.DataFrame(matrix, index=pd.DatetimeIndex(days, name="date"), columns=pd.Index(symbols, name="symbol"))
    return frame.dropna(how="all").dropna(axis=1, how="all")  # as pivot_table: no row or column without a close
