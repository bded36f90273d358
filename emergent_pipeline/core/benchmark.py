"""The benchmark series market context is computed from.

When no index is configured (a user's own file of prices), the universe's equal-weight index
stands in: each day, the mean of the members' close-to-close returns, compounded from 100.
"""

from __future__ import annotations

import pandas as pd

BENCHMARK_COLUMNS = ["date", "open", "high", "low", "close", "volume"]


def equal_weight_index(prices: pd.DataFrame, base: float = 100.0) -> pd.DataFrame:
    """Equal-weight index of the symbols in ``prices`` (long OHLCV), one row per trading day.

    A symbol counts on a day only when it has a close on that day and the previous one it traded,
    so members that list late or have gaps neither jump nor drag the index. Only ``close`` is
    defined; open, high, low and volume stay missing.
    """
    closes = prices.pivot_table(index="date", columns="symbol", values="close", aggfunc="last").sort_index()
    daily_return = closes.pct_change(fill_method=None).mean(axis=1, skipna=True).fillna(0.0)
    close = base * (1.0 + daily_return).cumprod()
    frame = pd.DataFrame({"date": close.index, "close": close.to_numpy()})
    for column in ["open", "high", "low", "volume"]:
        frame[column] = float("nan")
    return frame[BENCHMARK_COLUMNS]
