"""Fundamental growth: profitable, growing companies (point-in-time) in an uptrend.

Uses the statement usable on D (``core.fundamentals``): ROE (net income / equity), EBITDA margin
(EBITDA / revenue) and year-on-year EPS growth on one share basis. A figure the statement does not
give, growth included, never passes.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from emergent_pipeline.core.strategies.base import fires, make_signals, pct, squash, text

NAME = "fundamental_growth"


@dataclass(frozen=True)
class Params:
    min_roe: float = 0.15
    """Smallest return on equity (net income / equity) of the statement usable on D."""
    min_ebitda_margin: float = 0.15
    """Smallest EBITDA / revenue of the statement usable on D."""
    min_eps_growth: float = 0.0
    """EPS growth against the statement a year earlier must exceed this (unknown growth never passes)."""
    stop_atr: float = 3.0
    reward_risk: float = 2.0
    """Target = entry + this × (entry - stop)."""
    validity_days: int = 60
    confidence_scale: float = 2.0


def generate(panel: pd.DataFrame, params: Params = Params()) -> pd.DataFrame:
    """BUY when EPS > 0, ROE >= 15 %, EBITDA margin >= 15 %, EPS growth against the statement a year
    earlier > 0 (unknown growth does not pass), and the close is above SMA50. Stop entry - 3 ATR;
    target 2R; 60 days."""
    close, atr = panel["close"], panel["atr_14"]
    mask = fires(
        panel["eps"] > 0,
        panel["roe"] >= params.min_roe,
        panel["ebitda_margin"] >= params.min_ebitda_margin,
        panel["eps_growth"] > params.min_eps_growth,
        close > panel["sma_50"],
        atr > 0,
    )
    stop = close - params.stop_atr * atr
    score = panel["roe"] / params.min_roe + panel["ebitda_margin"] / params.min_ebitda_margin + panel["eps_growth"].clip(lower=0)
    return make_signals(
        panel, mask, NAME, "BUY", squash(score, params.confidence_scale),
        target=close + params.reward_risk * (close - stop), stop=stop, validity_days=params.validity_days,
        reason=lambda r: text("ROE ", pct(r["roe"]), ", EBITDA margin ", pct(r["ebitda_margin"]), ", EPS growth ", pct(r["eps_growth"])),
        indicator_columns=["eps", "roe", "ebitda_margin", "eps_growth", "sma_50", "atr_14"],
    )
