"""Breakout: a tight consolidation over the 20 bars before D, then D closes above it on volume.

The window ends at D-1: the system we replace included D in it, so D's close could never exceed
the range high and the strategy never fired.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from emergent_pipeline.core.strategies.base import fires, log_ratio, make_signals, num, pct, squash, text

NAME = "breakout"


@dataclass(frozen=True)
class Params:
    min_range: float = 0.03
    """Smallest height of the 20-bar range before D, as a share of its low (0.03 = 3 %)."""
    max_range: float = 0.15
    """Largest height of the 20-bar range before D, as a share of its low."""
    max_close_dispersion: float = 0.03
    """Largest std / mean of the 20 closes before D (a tight consolidation)."""
    min_break: float = 0.01
    """D's close must be at least this far above the range high (0.01 = 1 %)."""
    min_volume_ratio: float = 1.5
    target_range_multiple: float = 2.0
    """Target = entry + this × the range height (or min_reward_risk × risk, whichever is higher)."""
    min_reward_risk: float = 2.0
    """The target is at least entry + this × the risk (entry - range low; the stop is the range low)."""
    validity_days: int = 10
    confidence_scale: float = 1.5


def generate(panel: pd.DataFrame, params: Params = Params()) -> pd.DataFrame:
    """BUY when the 20 bars before D span 3-15 % of their low with closes within 3 % (std/mean),
    and D closes >= 1 % above that range's high with volume_ratio >= 1.5. Stop at the range low;
    target entry + 2 × range height, at least 2R; 10 days."""
    close = panel["close"]
    range_high, range_low = panel["range_high_20_prev"], panel["range_low_20_prev"]
    height = range_high - range_low
    range_pct = height / range_low
    dispersion = panel["close_std_20_prev"] / panel["close_mean_20_prev"]
    breakout = close / range_high - 1.0
    mask = fires(
        range_pct.between(params.min_range, params.max_range),
        dispersion <= params.max_close_dispersion,
        breakout >= params.min_break,
        panel["volume_ratio"] >= params.min_volume_ratio,
    )
    risk = close - range_low
    target = close + np.maximum(params.target_range_multiple * height, params.min_reward_risk * risk)
    score = log_ratio(breakout, params.min_break) + log_ratio(panel["volume_ratio"], params.min_volume_ratio) + 0.5
    return make_signals(
        panel, mask, NAME, "BUY", squash(score, params.confidence_scale),
        target=target, stop=range_low, validity_days=params.validity_days,
        reason=lambda r: text("close ", pct(r["close"] / r["range_high_20_prev"] - 1), " above 20-bar range, volume x", num(r["volume_ratio"])),
        indicator_columns=["range_high_20_prev", "range_low_20_prev", "close_std_20_prev", "close_mean_20_prev", "volume_ratio"],
    )
