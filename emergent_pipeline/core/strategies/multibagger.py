"""Multibagger: a smaller company breaking out to new highs after a strong half-year."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from emergent_pipeline.core.strategy_panel import size_percentile
from emergent_pipeline.core.strategies.base import fires, label, log_ratio, make_signals, num, pct, squash, text

NAME = "multibagger"


@dataclass(frozen=True)
class Params:
    max_size_percentile: float = 0.67
    """Largest size rank in the universe on D (0 = smallest; by market cap where known, else dollar
    volume)."""
    min_return_6m: float = 0.15
    """Smallest 6-month (126-bar) return."""
    min_return_3m: float = 0.0
    """The 3-month (63-bar) return must exceed this."""
    breakout_multiple: float = 1.05
    """The close must exceed this × the 60-bar high that ends 5 bars before D."""
    min_volume_ratio: float = 1.5
    stop_fraction: float = 0.80
    """Stop = max(this × entry, the 60-day low)."""
    target_multiple: float = 2.0
    """Target = this × entry."""
    validity_days: int = 120
    confidence_scale: float = 1.5


def generate(panel: pd.DataFrame, params: Params = Params()) -> pd.DataFrame:
    """BUY when the symbol is in the smaller two thirds of the universe on D (``size_percentile``:
    by point-in-time market cap where known, else by dollar volume), its 6-month return >= 15 % and
    3-month return > 0, the close is above 1.05 × the 60-bar high that ends 5 bars before D, on a
    volume surge (volume_ratio >= 1.5), and, where point-in-time fundamentals exist, EPS > 0.
    Stop max(0.8 × entry, 60-day low); target 2 × entry; 120 days."""
    close = panel["close"]
    profitable_or_unknown = panel["eps"].isna() | (panel["eps"] > 0)
    candidate = fires(
        panel["ret_126"] >= params.min_return_6m,
        panel["ret_63"] > params.min_return_3m,
        close > params.breakout_multiple * panel["high_60_lag5"],
        panel["volume_ratio"] >= params.min_volume_ratio,
        profitable_or_unknown,
    )
    # Size is a cross-sectional rank: compute it for the candidate rows only.
    rows = np.flatnonzero(candidate)
    size_pct = np.full(len(panel), np.nan)
    size_basis = np.full(len(panel), None, dtype=object)
    size_pct[rows], size_basis[rows] = size_percentile(panel, rows)
    mask = candidate & fires(size_pct <= params.max_size_percentile)
    score = log_ratio(panel["ret_126"], params.min_return_6m) + log_ratio(panel["volume_ratio"], params.min_volume_ratio) + 0.5
    stop = np.maximum(params.stop_fraction * close, panel["low_60"])
    extra = {"size_pct": size_pct, "size_basis": size_basis}
    return make_signals(
        panel, mask, NAME, "BUY", squash(score, params.confidence_scale),
        target=params.target_multiple * close, stop=stop, validity_days=params.validity_days,
        reason=lambda r: text("6m return ", pct(r["ret_126"]), ", new 60-bar high, size pct ", num(r["size_pct"]), " (", label(r["size_basis"]), ")"),
        indicator_columns=["size_pct", "ret_126", "ret_63", "high_60_lag5", "volume_ratio", "low_60"],
        extra=extra,
    )
