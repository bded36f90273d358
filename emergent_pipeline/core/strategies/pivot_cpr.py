"""Pivot / central pivot range: a narrow CPR day closing above its top on volume.

Standard floor pivots from D's bar: P = (H+L+C)/3, BC = (H+L)/2, TC = 2P - BC, R1 = 2P - L,
S1 = 2P - H, R2 = P + (H - L), S2 = P - (H - L). They are the levels for the next days.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from emergent_pipeline.core.strategies.base import fires, log_ratio, make_signals, num, squash, text, trailing_windows

NAME = "pivot_cpr"


@dataclass(frozen=True)
class Params:
    min_volume_ratio: float = 1.5
    min_reward_risk: float = 1.2
    """Fires only when (target - close) / (close - BC) is at least this."""
    width_window: int = 20
    """Days over which the median CPR width is taken; D's width must be below it."""
    min_risk: float = 0.0005
    """The stop (BC) must sit at least 0.05 % under the close: a bar closing on its midpoint has
    TC = BC = close up to rounding, and a stop at the entry is no stop."""
    validity_days: int = 3
    confidence_scale: float = 1.0


def pivot_levels(panel: pd.DataFrame) -> pd.DataFrame:
    """P, BC, TC, R1, S1, R2, S2 of each bar."""
    high, low, close = panel["high"], panel["low"], panel["close"]
    pivot = (high + low + close) / 3.0
    bottom = (high + low) / 2.0
    return pd.DataFrame(
        {"pivot": pivot, "bc": bottom, "tc": 2.0 * pivot - bottom, "r1": 2.0 * pivot - low, "s1": 2.0 * pivot - high,
         "r2": pivot + (high - low), "s2": pivot - (high - low)},
        index=panel.index,
    )


def cpr_width(levels: pd.DataFrame) -> pd.Series:
    """Width of the central pivot range relative to the pivot: |TC - BC| / P."""
    return (levels["tc"] - levels["bc"]).abs() / levels["pivot"]


def generate(panel: pd.DataFrame, params: Params = Params()) -> pd.DataFrame:
    """BUY when the CPR width is below its own 20-day median, the close is above TC, and
    volume_ratio >= 1.5; target R1 (R2 when R1 is not above the close), stop BC, only if
    reward/risk >= 1.2; 3 days."""
    levels = pivot_levels(panel)
    close = panel["close"]
    width = cpr_width(levels)
    target = levels["r1"].where(levels["r1"] > close, levels["r2"])
    reward_risk = (target - close) / (close - levels["bc"])
    candidate = fires(
        close > levels["tc"],
        (close - levels["bc"]) >= params.min_risk * close,
        panel["volume_ratio"] >= params.min_volume_ratio,
        target > close,
        reward_risk >= params.min_reward_risk,
    )
    # The 20-day median width is needed only where everything else holds.
    rows = np.flatnonzero(candidate)
    median_width = np.full(len(panel), np.nan)
    median_width[rows] = np.median(trailing_windows(panel, width.to_numpy(), rows, params.width_window), axis=1)
    mask = candidate & fires(width < median_width)
    score = log_ratio(reward_risk, params.min_reward_risk) + log_ratio(panel["volume_ratio"], params.min_volume_ratio) + 0.5
    extra = {**levels, "cpr_width": width, "cpr_width_median": median_width}
    return make_signals(
        panel, mask, NAME, "BUY", squash(score, params.confidence_scale),
        target=target, stop=levels["bc"], validity_days=params.validity_days,
        reason=lambda r: text("narrow CPR, close above TC ", num(r["tc"]), ", volume x", num(r["volume_ratio"])),
        indicator_columns=["pivot", "bc", "tc", "r1", "r2", "cpr_width", "cpr_width_median", "volume_ratio"],
        extra=extra,
    )
