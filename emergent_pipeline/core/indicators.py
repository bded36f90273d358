"""Per-symbol technical indicators over the long price panel, computed once and shared by every
strategy.

Standard definitions come from TA-Lib (Wilder RSI and ATR, SMA, Bollinger, rolling MAX/MIN/SUM);
the loop is over symbols only, around TA-Lib calls. Every value on row (symbol, D) uses bars up to
and including D; the "previous-bars" columns are shifted so that they end at D-1.

TA-Lib cannot skip a missing value inside a series (an exponential indicator stays wrong from that
bar on), so a bar with only a close is treated as flat (open = high = low = close) for the
indicators; a missing volume is left out of the volume averages. The stored prices keep the gaps; the
``price_history_ohlc_consistency`` check lists them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import talib

from emergent_pipeline.core.ohlcv import in_key_order

TRADING_DAYS = 252


@dataclass(frozen=True)
class SymbolBlocks:
    """Where each symbol's rows start and end in a panel sorted by (symbol, date)."""

    starts: np.ndarray
    ends: np.ndarray
    position: np.ndarray  # each row's bar number within its symbol, from 0

    @classmethod
    def of(cls, symbols: pd.Series) -> SymbolBlocks:
        values = symbols.to_numpy()
        return cls.from_starts(np.flatnonzero(np.r_[True, values[1:] != values[:-1]]), len(values))

    @classmethod
    def from_positions(cls, position: np.ndarray) -> SymbolBlocks:
        return cls.from_starts(np.flatnonzero(position == 0), len(position))

    @classmethod
    def from_starts(cls, starts: np.ndarray, length: int) -> SymbolBlocks:
        ends = np.r_[starts[1:], length]
        position = np.arange(length) - np.repeat(starts, ends - starts)
        return cls(starts, ends, position)

    def apply(self, function: Callable[..., np.ndarray], *arrays: np.ndarray, **kwargs) -> np.ndarray:
        """Run a TA-Lib-style function on each symbol's slice; one output array."""
        out = np.full(len(arrays[0]), np.nan)
        for lo, hi in zip(self.starts, self.ends):
            out[lo:hi] = function(*(a[lo:hi] for a in arrays), **kwargs)
        return out

    def shift(self, values: np.ndarray, periods: int) -> np.ndarray:
        """``values`` moved ``periods`` bars later within each symbol (NaN where none)."""
        out = np.full(len(values), np.nan)
        out[periods:] = values[:-periods]
        out[self.position < periods] = np.nan
        return out


def sample_std(blocks: SymbolBlocks, values: np.ndarray, window: int) -> np.ndarray:
    """Rolling sample standard deviation (ddof=1), from TA-Lib's population STDDEV."""
    return blocks.apply(talib.STDDEV, values, timeperiod=window, nbdev=1.0) * np.sqrt(window / (window - 1))


def sorted_panel(prices: pd.DataFrame) -> pd.DataFrame:
    """Prices ordered by (symbol, date) with ``bar``, each row's bar number within its symbol, and
    ``day``, the date's number among all the panel's dates (cross-sections index by it).

    Sorting integer codes with numpy is an order of magnitude faster than sorting string keys, and
    rows already in order (as every stored table is read) are not sorted at all; the symbol becomes
    a categorical, which every later group-by and take handles cheaply.
    """
    codes, symbols = pd.factorize(prices["symbol"].astype(str), sort=True)
    dates = prices["date"].to_numpy(dtype="datetime64[ns]")
    if in_key_order(codes, dates.view("int64")):
        order = slice(None)
    else:
        order = np.lexsort((dates.view("int64"), codes))
        codes, dates = codes[order], dates[order]
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    ends = np.r_[starts[1:], len(codes)]
    day_codes, _ = pd.factorize(dates.view("int64"), sort=True)  # hashing, then sorting the few distinct days
    frame = {
        "symbol": pd.Categorical.from_codes(codes, categories=pd.Index(symbols, dtype=object)),
        "date": dates,
        "bar": np.arange(len(codes)) - np.repeat(starts, ends - starts),
        "day": day_codes,  # index of the date among the panel's trading days, for cross-sections
    }
    for column in [c for c in ["open", "high", "low", "close", "volume"] if c in prices]:  # a reader may need only the close
        frame[column] = prices[column].to_numpy(dtype="float64")[order]
    return pd.DataFrame(frame)


def with_columns(frame: pd.DataFrame, columns: dict[str, np.ndarray | pd.Series]) -> pd.DataFrame:
    """``frame`` with ``columns`` added or replaced, sharing every array instead of copying it.

    ``DataFrame.assign`` copies each new array (about 3 ms per column of a 600 k-row panel, more than
    the indicator itself); the arrays here are freshly computed and never written to again, so the
    new frame may hold them as they are."""
    kept = {name: frame[name] for name in frame.columns if name not in columns}
    return pd.DataFrame({**kept, **columns}, index=frame.index, copy=False)


def locate_rows(panel: pd.DataFrame, symbols: pd.Series | np.ndarray, dates: pd.Series | np.ndarray) -> np.ndarray:
    """Row numbers in ``panel`` (from :func:`sorted_panel`) of each (symbol, date), -1 where absent.

    Keys are (symbol code, day number) packed into one integer; the panel is sorted by them, so one
    ``searchsorted`` finds every row.
    """
    categories = panel["symbol"].cat.categories
    panel_keys = panel["symbol"].cat.codes.to_numpy().astype("int64") * 1_000_000 + panel["date"].to_numpy(
        dtype="datetime64[D]"
    ).astype("int64")
    own_codes, own_symbols = pd.factorize(pd.Series(symbols, dtype="str"))  # hash once; look up each distinct symbol once
    codes = np.r_[categories.get_indexer(own_symbols), -1].astype("int64")[own_codes]  # a missing symbol (-1) stays -1
    keys = codes * 1_000_000 + np.asarray(dates, dtype="datetime64[D]").astype("int64")
    position = np.searchsorted(panel_keys, keys)
    found = (codes >= 0) & (position < len(panel_keys))
    found[found] = panel_keys[position[found]] == keys[found]
    return np.where(found, position, -1)


def compute_indicators(prices: pd.DataFrame, benchmark: pd.DataFrame | None = None) -> pd.DataFrame:
    """The price panel sorted by (symbol, date) with every indicator the strategies use.

    Columns added: rsi_14, atr_14, sma_20/50/200, bb_upper/bb_middle/bb_lower (20, 2σ),
    volume_ratio (volume / mean volume of the 20 previous bars), dollar_volume_20 (mean close × volume
    of the last 20 bars), ret_20/30/60/63/126 (close-to-close
    returns over that many bars), vol_20/vol_60 (annualised sample std of daily returns),
    sigma_20 (20-bar-horizon volatility: daily std × √20),
    range_high_20_prev/range_low_20_prev/close_mean_20_prev/close_std_20_prev (the 20 bars before D),
    high_20/low_20 (the 20 bars up to D), high_60_lag5 (60-bar high ending 5 bars before D),
    low_60, low_200 and beta_60 (to the benchmark, when given). Windowed measures that only a few
    candidate rows need (a 60-bar max drawdown, the 20-day median CPR width) are computed by the
    strategies that use them, on those rows only.
    """
    panel = sorted_panel(prices)
    blocks = SymbolBlocks.from_positions(panel["bar"].to_numpy())
    close = panel["close"].to_numpy(dtype="float64")
    high = panel["high"].fillna(panel["close"]).to_numpy(dtype="float64")
    low = panel["low"].fillna(panel["close"]).to_numpy(dtype="float64")
    volume = panel["volume"].fillna(0.0).to_numpy(dtype="float64")

    columns: dict[str, np.ndarray] = {
        "rsi_14": blocks.apply(talib.RSI, close, timeperiod=14),
        "atr_14": blocks.apply(talib.ATR, high, low, close, timeperiod=14),
        "sma_20": blocks.apply(talib.SMA, close, timeperiod=20),
        "sma_50": blocks.apply(talib.SMA, close, timeperiod=50),
        "sma_200": blocks.apply(talib.SMA, close, timeperiod=200),
    }
    upper = np.full(len(close), np.nan)
    lower = np.full(len(close), np.nan)
    for lo, hi in zip(blocks.starts, blocks.ends):
        upper[lo:hi], _, lower[lo:hi] = talib.BBANDS(close[lo:hi], timeperiod=20, nbdevup=2.0, nbdevdn=2.0)
    columns.update(bb_upper=upper, bb_middle=columns["sma_20"].copy(), bb_lower=lower)

    # Mean of the known volumes among the 20 previous bars; none known (or all zero) gives NaN.
    volume_known = (~panel["volume"].isna()).to_numpy(dtype="float64")
    volume_sum = blocks.apply(talib.SUM, volume, timeperiod=20)
    known_count = blocks.apply(talib.SUM, volume_known, timeperiod=20)
    with np.errstate(invalid="ignore", divide="ignore"):
        previous_mean = blocks.shift(volume_sum / known_count, 1)
        ratio = np.where(previous_mean > 0, volume / previous_mean, np.nan)
    columns["volume_ratio"] = np.where(volume_known > 0, ratio, np.nan)
    columns["dollar_volume_20"] = blocks.apply(talib.SMA, close * volume, timeperiod=20)
    for n in (20, 30, 60, 63, 126):
        columns[f"ret_{n}"] = close / blocks.shift(close, n) - 1.0
    daily_return = close / blocks.shift(close, 1) - 1.0
    daily_return_filled = np.nan_to_num(daily_return)  # the first bar has no return; TA-Lib needs no gaps
    std_20 = sample_std(blocks, daily_return_filled, 20)
    std_60 = sample_std(blocks, daily_return_filled, 60)
    columns["vol_20"] = np.where(blocks.position >= 20, std_20 * np.sqrt(TRADING_DAYS), np.nan)
    columns["vol_60"] = np.where(blocks.position >= 60, std_60 * np.sqrt(TRADING_DAYS), np.nan)
    columns["sigma_20"] = np.where(blocks.position >= 20, std_20 * np.sqrt(20), np.nan)

    high_20 = blocks.apply(talib.MAX, high, timeperiod=20)
    low_20 = blocks.apply(talib.MIN, low, timeperiod=20)
    columns.update(
        high_20=high_20,
        low_20=low_20,
        range_high_20_prev=blocks.shift(high_20, 1),
        range_low_20_prev=blocks.shift(low_20, 1),
        close_mean_20_prev=blocks.shift(columns["sma_20"], 1),
        close_std_20_prev=blocks.shift(sample_std(blocks, close, 20), 1),
        high_60_lag5=blocks.shift(blocks.apply(talib.MAX, high, timeperiod=60), 5),
        low_60=blocks.apply(talib.MIN, low, timeperiod=60),
        low_200=blocks.apply(talib.MIN, low, timeperiod=200),
    )

    if benchmark is not None and not benchmark.empty:
        columns["beta_60"] = rolling_beta(panel, blocks, daily_return, benchmark, 60)
    else:
        columns["beta_60"] = np.full(len(close), np.nan)

    # Warm-up bars are NaN: TA-Lib leaves a window's first bars empty, and shifts mask them too.
    return with_columns(panel, columns)


def rolling_beta(
    panel: pd.DataFrame, blocks: SymbolBlocks, stock_return: np.ndarray, benchmark: pd.DataFrame, window: int
) -> np.ndarray:
    """OLS beta of the symbol's daily returns on the benchmark's over the last ``window`` bars,
    cov(r, m) / var(m), from rolling sums (TA-Lib SUM). Days the benchmark lacks give NaN."""
    index_close = benchmark.set_index("date")["close"].sort_index()
    index_return = (index_close / index_close.shift(1) - 1.0).reindex(panel["date"]).to_numpy()
    valid = ~(np.isnan(stock_return) | np.isnan(index_return))
    r = np.where(valid, stock_return, 0.0)
    m = np.where(valid, index_return, 0.0)
    n = blocks.apply(talib.SUM, valid.astype("float64"), timeperiod=window)
    sum_r = blocks.apply(talib.SUM, r, timeperiod=window)
    sum_m = blocks.apply(talib.SUM, m, timeperiod=window)
    sum_rm = blocks.apply(talib.SUM, r * m, timeperiod=window)
    sum_mm = blocks.apply(talib.SUM, m * m, timeperiod=window)
    covariance = sum_rm - sum_r * sum_m / n
    variance = sum_mm - sum_m * sum_m / n
    with np.errstate(invalid="ignore", divide="ignore"):
        beta = covariance / variance
    return np.where(n >= window * 0.9, beta, np.nan)
