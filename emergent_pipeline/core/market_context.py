"""Market context of each trading day from the benchmark: regime, volatility and 20-day trend.

The system we replace always returned its default context. Here every field is computed from the
benchmark's closes up to and including day D only (rolling windows that end at D), so the context
of D can feed a feature for a signal dated D without look-ahead.

The regime must see a crash while it happens. A moving-average crossover alone (BULL if close >
SMA50 > SMA200, BEAR if the reverse) read SIDEWAYS through the whole 2020 crash and turned BEAR a week
after the bottom. So BEAR starts on the first close 10 % or more below the 252-day high with the close
under its SMA50, and ends only when the index is back within 5 % of that high or its trend is
repaired (close above SMA50 above SMA200): hysteresis, so that it does not flip back and forth. Outside
BEAR, BULL starts when close > SMA50 > SMA200 and ends when the close falls under SMA200 or SMA50 under
SMA200 (a dip under SMA50 inside an uptrend is still BULL); SIDEWAYS otherwise. Each state is the last
of its on/off events carried forward, so the whole series is vectorised.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import talib

REGIMES = ("BULL", "BEAR", "SIDEWAYS", "UNKNOWN")
SIGNAL_CONTEXT = {"volatility": "market_volatility", "trend_20d": "market_trend_20d", "above_sma_50": "market_above_sma_50",
                  "above_sma_200": "market_above_sma_200", "regime": "market_regime"}
"""A signal's market context: the `market_context` columns it carries, and their names beside the
signal's own columns (the model's context features, in this order)."""

REGIME_MEANING = {
    "BULL": "an uptrend: index above its SMA50, itself above its SMA200, and not in a drawdown of 10 % or more",
    "BEAR": "a drawdown: index 10 % or more below its 252-day high, until it is back within 5 % of it or its trend is repaired",
    "SIDEWAYS": "no clear trend: neither an uptrend nor a drawdown",
    "UNKNOWN": "fewer than 200 bars of index history",
}


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
    high_window: int = 252
    bear_drawdown: float = 0.10
    """BEAR starts on a close this far below the ``high_window`` high (and under its SMA50) ..."""
    recovered_drawdown: float = 0.05
    """... and ends once the close is back within this of the high (or the trend is repaired)."""


def compute_market_context(benchmark: pd.DataFrame, params: MarketContextParams = MarketContextParams()) -> pd.DataFrame:
    """One row per benchmark day: close, volatility, trend_20d, sma_50, sma_200, above_sma_50,
    above_sma_200, regime, volatility_level and trend_strength.

    - volatility: sample std of the last ``volatility_window`` daily returns, annualised by sqrt(252);
    - trend_20d: close / close ``trend_window`` bars before - 1;
    - drawdown: close / the highest close of the last ``high_window`` bars - 1;
    - regime: see the module docstring; UNKNOWN while fewer than ``slow_sma`` bars exist (a missing
      value never passes a test).
    """
    ordered = benchmark.sort_values("date").reset_index(drop=True)
    close = ordered["close"].astype("float64")
    values = close.to_numpy()
    sma_fast = pd.Series(talib.SMA(values, timeperiod=params.fast_sma), index=close.index)
    sma_slow = pd.Series(talib.SMA(values, timeperiod=params.slow_sma), index=close.index)
    daily_return = close.pct_change(fill_method=None)
    volatility = daily_return.rolling(params.volatility_window).std() * np.sqrt(params.trading_days_per_year)
    trend = close / close.shift(params.trend_window) - 1.0

    drawdown = close / close.rolling(params.high_window, min_periods=1).max() - 1.0

    known = (sma_slow.notna() & sma_fast.notna()).to_numpy()
    uptrend = ((close > sma_fast) & (sma_fast > sma_slow)).to_numpy()
    bear = hysteresis(
        on=((drawdown <= -params.bear_drawdown) & (close < sma_fast)).to_numpy(),
        off=(drawdown >= -params.recovered_drawdown).to_numpy() | uptrend,
    )
    bull = hysteresis(on=uptrend, off=((close < sma_slow) | (sma_fast < sma_slow)).to_numpy())
    regime = np.select([~known, bear, bull], ["UNKNOWN", "BEAR", "BULL"], default="SIDEWAYS")

    context = pd.DataFrame(
        {
            "date": ordered["date"].to_numpy(),
            "close": close.to_numpy(),
            "volatility": volatility.to_numpy(),
            "trend_20d": trend.to_numpy(),
            "sma_50": sma_fast.to_numpy(),
            "sma_200": sma_slow.to_numpy(),
            "drawdown": drawdown.to_numpy(),
            "above_sma_50": _nullable_above(close, sma_fast),
            "above_sma_200": _nullable_above(close, sma_slow),
            "regime": regime,
        }
    )
    context["volatility_level"] = volatility_level(context["volatility"], params)
    context["trend_strength"] = trend_strength(context["trend_20d"], params)
    return context


def hysteresis(on: np.ndarray, off: np.ndarray) -> np.ndarray:
    """A state that turns on where ``on`` holds and stays on until ``off`` holds (on wins a tie):
    the last event carried forward, off before the first event."""
    events = np.where(on, 1.0, np.where(off, 0.0, np.nan))
    return pd.Series(events).ffill().fillna(0.0).to_numpy().astype(bool)


def signal_context(context: pd.DataFrame) -> pd.DataFrame:
    """``date`` and the market context of that day under the names a signal's row gives them."""
    return context[["date", *SIGNAL_CONTEXT]].rename(columns=SIGNAL_CONTEXT)


def volatility_level(volatility: pd.Series, params: MarketContextParams = MarketContextParams()) -> np.ndarray:
    """High above 25 % annualised, Medium above 15 %, Low otherwise; missing stays missing."""
    level = np.select(
        [volatility > params.high_volatility, volatility > params.medium_volatility], ["High", "Medium"], default="Low"
    ).astype(object)
    level[volatility.isna().to_numpy()] = None
    return level


def trend_strength(trend: pd.Series, params: MarketContextParams = MarketContextParams()) -> np.ndarray:
    """Signed: Strong Up above +5 %, Moderate Up above +2 %, Strong Down below -5 %, Moderate Down
    below -2 %, Weak in between; missing stays missing."""
    strength = np.select(
        [trend > params.strong_trend, trend > params.moderate_trend, trend < -params.strong_trend, trend < -params.moderate_trend],
        ["Strong Up", "Moderate Up", "Strong Down", "Moderate Down"], default="Weak",
    ).astype(object)
    strength[trend.isna().to_numpy()] = None
    return strength


def _nullable_above(close: pd.Series, average: pd.Series) -> pd.arrays.BooleanArray:
    """close > average as a nullable boolean: missing while the average is not yet defined."""
    above = (close > average).astype("boolean")
    above[average.isna()] = pd.NA
    return above.array
