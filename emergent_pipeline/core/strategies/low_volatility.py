"""Low volatility: calm, steadily rising stocks that move less than the market."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from emergent_pipeline.core.strategies.base import fires, make_signals, num, pct, squash

NAME = "low_volatility"


@dataclass(frozen=True)
class Params:
    max_volatility_60d: float = 0.25
    max_drawdown_60d: float = 0.15
    min_positive_blocks: float = 0.60
    max_beta: float = 0.90
    stop_sigma: float = 1.5
    max_stop: float = 0.12
    target_gain: float = 0.08
    validity_days: int = 60
    confidence_scale: float = 1.0


def positive_block_share(panel: pd.DataFrame, blocks: int = 6, block_bars: int = 20) -> pd.Series:
    """Share of the six 20-bar blocks of the last 120 bars whose return was positive."""
    by_symbol = panel["ret_20"].groupby(panel["symbol"])
    shifted = [by_symbol.shift(k * block_bars) for k in range(blocks)]
    stacked = np.column_stack([s.to_numpy() for s in shifted])
    share = (stacked > 0).mean(axis=1)
    return pd.Series(np.where(np.isnan(stacked).any(axis=1), np.nan, share), index=panel.index)


def generate(panel: pd.DataFrame, params: Params = Params()) -> pd.DataFrame:
    """BUY when 60-day annualised volatility <= 25 %, 60-day max drawdown <= 15 %, more than 60 % of
    the 20-day blocks of the last 120 days are positive and beta to the benchmark <= 0.9.
    Stop entry × (1 - min(1.5 σ20, 12 %)) with σ20 the 20-bar-horizon volatility (daily std × √20);
    target entry × 1.08; 60 days."""
    close = panel["close"]
    positive = positive_block_share(panel)
    mask = fires(
        panel["vol_60"] <= params.max_volatility_60d,
        panel["mdd_60"] >= -params.max_drawdown_60d,
        positive > params.min_positive_blocks,
        panel["beta_60"] <= params.max_beta,
    )
    stop_distance = np.minimum(params.stop_sigma * panel["sigma_20"], params.max_stop)
    score = (params.max_volatility_60d - panel["vol_60"]) / params.max_volatility_60d + (params.max_beta - panel["beta_60"]) + (positive - params.min_positive_blocks)
    panel = panel.assign(positive_blocks=positive)
    return make_signals(
        panel, mask, NAME, "BUY", squash(score, params.confidence_scale),
        target=close * (1.0 + params.target_gain), stop=close * (1.0 - stop_distance), validity_days=params.validity_days,
        reason=lambda r: "60d vol " + pct(r["vol_60"]) + ", max drawdown " + pct(r["mdd_60"]) + ", beta " + num(r["beta_60"]),
        indicator_columns=["vol_60", "mdd_60", "positive_blocks", "beta_60", "sigma_20"],
    )
