"""Market context of each trading day from the benchmark: regime, volatility and 20-day trend.

The system we replace always returned its default context. Here every field is computed from the
benchmark's closes up to and including day D only (rolling windows that end at D), so the context
of D can feed a feature for a signal dated D without look-ahead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import talib

REGIMES = ("BULL", "BEAR", "SIDEWAYS", "UNKNOWN")


@dataclass(frozen=True)
class MarketContextParams:
    """The domain spec's defaults; every one is a parameter."""

    volatility_window: int = 20
    trend_window: int = 20
    fast_sma: int = 50
    slow_sma: int = 200
    trading_days_per_year: int = 252
    high_volatility: float = 0.25
    medium_volatility: float = 0.15
    strong_trend: float = 0.05
    moderate_trend: float = 0.02


def compute_market_context(benchmark: pd.DataFrame, params: MarketContextParams = MarketContextParams()) -> pd.DataFrame:
    """One row per benchmark day: close, volatility, trend_20d, sma_50, sma_200, above_sma_50,
    above_sma_200, regime, volatility_level and trend_strength.

    - volatility: sample std of the last ``volatility_window`` daily returns, annualised by sqrt(252);
    - trend_20d: close / close ``trend_window`` bars before - 1;
    - regime: BULL if close > SMA50 > SMA200, BEAR if close < SMA50 < SMA200, SIDEWAYS otherwise,
      UNKNOWN while fewer than ``slow_sma`` bars exist (a missing value never passes a test).
    """
    ordered = benchmark.sort_values("date").reset_index(drop=True)
    close = ordered["close"].astype("float64")
    values = close.to_numpy()
    sma_fast = pd.Series(talib.SMA(values, timeperiod=params.fast_sma), index=close.index)
    sma_slow = pd.Series(talib.SMA(values, timeperiod=params.slow_sma), index=close.index)
    daily_return = close.pct_change(fill_method=None)
    volatility = daily_return.rolling(params.volatility_window).std() * np.sqrt(params.trading_days_per_year)
    trend = close / close.shift(params.trend_window) - 1.0

    known = sma_slow.notna() & sma_fast.notna()
    bull = known & (close > sma_fast) & (sma_fast > sma_slow)
    bear = known & (close < sma_fast) & (sma_fast < sma_slow)
    regime = np.select([~known, bull, bear], ["UNKNOWN", "BULL", "BEAR"], default="SIDEWAYS")

    context = pd.DataFrame(
        {
            "date": ordered["date"].to_numpy(),
            "close": close.to_numpy(),
            "volatility": volatility.to_numpy(),
            "trend_20d": trend.to_numpy(),
            "sma_50": sma_fast.to_numpy(),
            "sma_200": sma_slow.to_numpy(),
            "above_sma_50": _nullable_above(close, sma_fast),
            "above_sma_200": _nullable_above(close, sma_slow),
            "regime": regime,
        }
    )
    context["volatility_level"] = volatility_level(context["volatility"], params)
    context["trend_strength"] = trend_strength(context["trend_20d"], params)
    return context


def volatility_level(volatility: pd.Series, params: MarketContextParams = MarketContextParams()) -> np.ndarray:
    """High above 25 % annualised, Medium above 15 %, Low otherwise; missing stays missing."""
    level = np.select(
        [volatility > params.high_volatility, volatility > params.medium_volatility], ["High", "Medium"], default="Low"
    ).astype(object)
    level[volatility.isna().to_numpy()] = None
    return level


def trend_strength(trend: pd.Series, params: MarketContextParams = MarketContextParams()) -> np.ndarray:
    """Strong when |trend| > 5 %, Moderate above 2 %, Weak otherwise; missing stays missing."""
    magnitude = trend.abs()
    strength = np.select(
        [magnitude > params.strong_trend, magnitude > params.moderate_trend], ["Strong", "Moderate"], default="Weak"
    ).astype(object)
    strength[trend.isna().to_numpy()] = None
    return strength


def _nullable_above(close: pd.Series, average: pd.Series) -> pd.arrays.BooleanArray:
    """close > average as a nullable boolean: missing while the average is not yet defined."""
    above = (close > average).astype("boolean")
    above[average.isna()] = pd.NA
    return above.array
