"""Swing: buy the confirmed swing low of a pull-back inside an uptrend.

The pull-back is judged on the swing-low bar itself (in the lower 40 % of its 20-day range, RSI
<= 40); the low is a 5-bar fractal, so it is known only two bars later, on D, when the strategy
fires. Everything used is at or before D.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from emergent_pipeline.core.strategies.base import fires, lag, make_signals, num, squash, text

NAME = "swing"


@dataclass(frozen=True)
class Params:
    max_range_position: float = 0.40
    """The swing-low bar closed in the lowest this share of its 20-day range."""
    max_rsi: float = 40.0
    """Highest RSI(14) of the swing-low bar."""
    fractal_half_width: int = 2
    """A swing low is the lowest of 2 × this + 1 bars centred on it, confirmed this many bars later (on D)."""
    stop_buffer: float = 0.005
    """Stop = swing low × (1 - this)."""
    target_swing_multiple: float = 1.2
    """Target = entry + this × (20-day high - swing low)."""
    min_reward_risk: float = 1.5
    validity_days: int = 7
    confidence_scale: float = 2.0


def swing_low_confirmed_today(panel: pd.DataFrame, half_width: int = 2) -> pd.DataFrame:
    """For each D: the low, RSI and 20-day range position of bar D - half_width, and whether that
    bar is a fractal low (lowest of the ``2 × half_width + 1`` bars centred on it, the last of which is D)."""
    low = panel["low"].fillna(panel["close"]).to_numpy()
    window = [lag(panel, low, k) if k else pd.Series(low, index=panel.index) for k in range(2 * half_width + 1)]
    lowest = np.minimum.reduce([w.to_numpy() for w in window])  # NaN (too few bars) propagates
    centre = window[half_width]
    range_position = (panel["close"] - panel["low_20"]) / (panel["high_20"] - panel["low_20"])
    return pd.DataFrame(
        {
            "swing_low": centre,
            "is_fractal": (centre.to_numpy() == lowest) & ~np.isnan(lowest),
            "swing_range_position": lag(panel, range_position, half_width),
            "swing_rsi": lag(panel, panel["rsi_14"], half_width),
        },
        index=panel.index,
    )


def generate(panel: pd.DataFrame, params: Params = Params()) -> pd.DataFrame:
    """BUY on D when SMA20 > SMA50 and close > SMA50 (uptrend), and D confirms a 5-bar fractal
    low whose bar sat in the lower 40 % of its 20-day range with RSI <= 40, below D's close.
    Stop just under the swing low (0.5 %); target entry + 1.2 × (20-day high - swing low);
    reward/risk >= 1.5; 7 days."""
    close = panel["close"]
    swing = swing_low_confirmed_today(panel, params.fractal_half_width)
    stop = swing["swing_low"] * (1.0 - params.stop_buffer)
    target = close + params.target_swing_multiple * (panel["high_20"] - swing["swing_low"])
    reward_risk = (target - close) / (close - stop)
    mask = fires(
        panel["sma_20"] > panel["sma_50"],
        close > panel["sma_50"],
        swing["is_fractal"],
        swing["swing_range_position"] <= params.max_range_position,
        swing["swing_rsi"] <= params.max_rsi,
        swing["swing_low"] < close,
        reward_risk >= params.min_reward_risk,
    )
    score = (params.max_rsi - swing["swing_rsi"]) / 10.0 + reward_risk / params.min_reward_risk
    extra = dict(swing)
    return make_signals(
        panel, mask, NAME, "BUY", squash(score, params.confidence_scale),
        target=target, stop=stop, validity_days=params.validity_days,
        reason=lambda r: text("swing low ", num(r["swing_low"]), " confirmed after pull-back (RSI ", num(r["swing_rsi"], 1), ")"),
        indicator_columns=["sma_20", "sma_50", "high_20", "swing_low", "swing_range_position", "swing_rsi"],
        extra=extra,
    )
