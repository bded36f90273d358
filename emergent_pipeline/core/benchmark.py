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
    return _index_frame(closes.index, _compounded(base, _mean_returns(closes.to_numpy())))


def extended_equal_weight_index(last: pd.Series, recent: pd.DataFrame, symbols: pd.Index) -> pd.DataFrame:
    """The rows :func:`equal_weight_index` would add after its ``last`` row (date, close) when the
    prices gain the days of ``recent`` (long OHLCV of the day ``last`` and the new days), ``symbols``
    being every symbol of the whole prices: the same returns averaged over rows of the same width,
    compounded from the stored close, so the values are identical to the bit."""
    closes = close_matrix(recent).reindex(columns=symbols.sort_values())
    days = closes.index > last["date"]
    returns = _mean_returns(closes.to_numpy())[days]
    return _index_frame(closes.index[days], _compounded(float(last["close"]), returns))


def _mean_returns(closes: np.ndarray) -> np.ndarray:
    """Each day's mean close-to-close return over the symbols with both closes (0 when none has):
    row by row over C-ordered rows, so a row's mean does not depend on how many rows are computed."""
    with np.errstate(divide="ignore", invalid="ignore"):
        returns = np.vstack([np.full((1, closes.shape[1]), np.nan), closes[1:] / closes[:-1] - 1.0]) if len(closes) else closes
    known = np.isfinite(returns)
    counts = known.sum(axis=1)
    sums = np.ascontiguousarray(np.where(known, returns, 0.0)).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), 0.0)


def _compounded(start: float, returns: np.ndarray) -> np.ndarray:
    """``start`` compounded by each return in turn (close after close: a later day extends it exactly)."""
    return np.cumprod(np.concatenate([[start], 1.0 + returns]))[1:]


def _index_frame(days: pd.Index, close: np.ndarray) -> pd.DataFrame:
    frame = pd.DataFrame({"date": pd.DatetimeIndex(days), "close": close})
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
