"""Mean reversion: a close beyond a Bollinger band with RSI at an extreme, expecting the middle band."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from emergent_pipeline.core.strategies.base import fires, make_signals, num, squash, text

NAME = "mean_reversion"


@dataclass(frozen=True)
class Params:
    rsi_oversold: float = 30.0
    """BUY: RSI(14) at or below this, with the close at or below the lower Bollinger band."""
    rsi_overbought: float = 70.0
    """SELL: RSI(14) at or above this, with the close at or above the upper Bollinger band."""
    stop_atr: float = 1.5
    min_reward_risk: float = 1.5
    """Fires only when the distance to the middle band is at least this × the stop distance."""
    validity_days: int = 5
    confidence_scale: float = 15.0


def generate(panel: pd.DataFrame, params: Params = Params()) -> pd.DataFrame:
    """BUY at or below the lower band with RSI <= 30, SELL at or above the upper band with RSI >= 70;
    target the middle band, stop 1.5 ATR away, only when reward/risk >= 1.5; 5 days."""
    close, atr, middle, rsi = panel["close"], panel["atr_14"], panel["bb_middle"], panel["rsi_14"]
    risk = params.stop_atr * atr
    buy = fires(close <= panel["bb_lower"], rsi <= params.rsi_oversold, (middle - close) >= params.min_reward_risk * risk, atr > 0)
    sell = fires(close >= panel["bb_upper"], rsi >= params.rsi_overbought, (close - middle) >= params.min_reward_risk * risk, atr > 0)
    score = np.where(buy, params.rsi_oversold - rsi, rsi - params.rsi_overbought) + (middle - close).abs() / atr
    return make_signals(
        panel, buy | sell, NAME, np.where(buy, "BUY", "SELL"), squash(score, params.confidence_scale),
        target=middle, stop=np.where(buy, close - risk, close + risk),
        validity_days=params.validity_days,
        reason=lambda r: text("close ", num(r["close"]), " beyond band (", num(r["bb_lower"]), " / ", num(r["bb_upper"]), "), RSI ", num(r["rsi_14"], 1)),
        indicator_columns=["bb_lower", "bb_middle", "bb_upper", "rsi_14", "atr_14"],
    )
