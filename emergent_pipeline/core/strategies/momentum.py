"""Momentum: strong positive 20-day return confirmed by volume and trend."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from emergent_pipeline.core.strategies.base import fires, log_ratio, make_signals, num, pct, squash, text

NAME = "momentum"


@dataclass(frozen=True)
class Params:
    min_return_20d: float = 0.08
    """Smallest 20-day return that fires (0.08 = 8 %)."""
    min_volume_ratio: float = 1.2
    rsi_low: float = 40.0
    """Lowest RSI(14) that fires."""
    rsi_high: float = 70.0
    """Highest RSI(14) that fires (above it the move is overbought)."""
    stop_atr: float = 2.0
    target_atr: float = 4.0
    """Target = entry + this × ATR(14)."""
    validity_days: int = 10
    confidence_scale: float = 1.5


def generate(panel: pd.DataFrame, params: Params = Params()) -> pd.DataFrame:
    """BUY when the 20-day return >= 8 %, volume_ratio >= 1.2, RSI in [40, 70] and the close is
    above SMA20 and SMA50. Stop entry - 2 ATR, target entry + 4 ATR, 10 days."""
    close, atr = panel["close"], panel["atr_14"]
    mask = fires(
        panel["ret_20"] >= params.min_return_20d,
        panel["volume_ratio"] >= params.min_volume_ratio,
        panel["rsi_14"].between(params.rsi_low, params.rsi_high),
        close > panel["sma_20"],
        close > panel["sma_50"],
        atr > 0,
    )
    score = panel["ret_20"] / params.min_return_20d - 1.0 + log_ratio(panel["volume_ratio"], params.min_volume_ratio)
    return make_signals(
        panel, mask, NAME, "BUY", squash(score, params.confidence_scale),
        target=close + params.target_atr * atr, stop=close - params.stop_atr * atr,
        validity_days=params.validity_days,
        reason=lambda r: text("20d return ", pct(r["ret_20"]), ", volume x", num(r["volume_ratio"]), ", RSI ", num(r["rsi_14"], 1)),
        indicator_columns=["ret_20", "volume_ratio", "rsi_14", "sma_20", "sma_50", "atr_14"],
    )
