"""Low volatility: calm, steadily rising stocks that move less than the market."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from emergent_pipeline.core.strategies.base import fires, lag, make_signals, num, pct, squash, text, trailing_windows

NAME = "low_volatility"


@dataclass(frozen=True)
class Params:
    max_volatility_60d: float = 0.25
    """Largest 60-day annualised volatility (0.25 = 25 %)."""
    max_drawdown_60d: float = 0.15
    """Largest peak-to-trough fall of the closes over drawdown_window bars."""
    drawdown_window: int = 60
    """Bars over which the drawdown is measured."""
    min_positive_blocks: float = 0.60
    """The share of the six 20-bar blocks of the last 120 bars with a positive return must exceed this."""
    max_beta: float = 0.90
    """Largest 60-day beta to the benchmark."""
    stop_sigma: float = 1.5
    """Stop distance in σ20 (daily volatility × √20), capped by max_stop."""
    max_stop: float = 0.12
    """Largest stop distance, as a share of the entry."""
    target_gain: float = 0.08
    """Target = entry × (1 + this)."""
    validity_days: int = 60
    confidence_scale: float = 1.0


def positive_block_share(panel: pd.DataFrame, blocks: int = 6, block_bars: int = 20) -> pd.Series:
    """Share of the six 20-bar blocks of the last 120 bars whose return was positive."""
    stacked = np.column_stack([lag(panel, panel["ret_20"], k * block_bars) if k else panel["ret_20"].to_numpy() for k in range(blocks)])
    share = (stacked > 0).mean(axis=1)
    return pd.Series(np.where(np.isnan(stacked).any(axis=1), np.nan, share), index=panel.index)


def max_drawdown(windows: np.ndarray) -> np.ndarray:
    """Worst peak-to-trough fall inside each row's window of closes (<= 0)."""
    return (windows / np.maximum.accumulate(windows, axis=1) - 1.0).min(axis=1)


def generate(panel: pd.DataFrame, params: Params = Params()) -> pd.DataFrame:
    """BUY when 60-day annualised volatility <= 25 %, 60-day max drawdown <= 15 %, more than 60 % of
    the 20-day blocks of the last 120 days are positive and beta to the benchmark <= 0.9.
    Stop entry × (1 - min(1.5 σ20, 12 %)) with σ20 the 20-bar-horizon volatility (daily std × √20);
    target entry × 1.08; 60 days."""
    close = panel["close"]
    positive = positive_block_share(panel)
    candidate = fires(
        panel["vol_60"] <= params.max_volatility_60d,
        positive > params.min_positive_blocks,
        panel["beta_60"] <= params.max_beta,
    )
    # The 60-bar max drawdown is a windowed scan: run it only on the rows that pass everything else.
    rows = np.flatnonzero(candidate)
    drawdown = np.full(len(panel), np.nan)
    drawdown[rows] = max_drawdown(trailing_windows(panel, close.to_numpy(), rows, params.drawdown_window))
    mask = candidate & fires(drawdown >= -params.max_drawdown_60d)
    stop_distance = np.minimum(params.stop_sigma * panel["sigma_20"], params.max_stop)
    score = (params.max_volatility_60d - panel["vol_60"]) / params.max_volatility_60d + (params.max_beta - panel["beta_60"]) + (positive - params.min_positive_blocks)
    extra = {"positive_blocks": positive, "max_drawdown_60": drawdown}
    return make_signals(
        panel, mask, NAME, "BUY", squash(score, params.confidence_scale),
        target=close * (1.0 + params.target_gain), stop=close * (1.0 - stop_distance), validity_days=params.validity_days,
        reason=lambda r: text("60d vol ", pct(r["vol_60"]), ", max drawdown ", pct(r["max_drawdown_60"]), ", beta ", num(r["beta_60"])),
        indicator_columns=["vol_60", "max_drawdown_60", "positive_blocks", "beta_60", "sigma_20"],
        extra=extra,
    )
