"""Position size per signal: fractional Kelly from the calibrated probability and the signal's payoff.

For a bet that wins ``b`` for every 1 it risks with probability ``p``, Kelly's fraction of capital is
``p - (1 - p) / b``. Here ``p`` is the calibrated ``ml_probability`` that the trade makes money and
``b`` the signal's own reward-to-risk, known when it is issued: the distance to the target over the
distance to the stop. A signal whose Kelly fraction is not positive gets no position.

Settings by reasoning: a quarter of Kelly, because ``p`` is an estimate whose calibration has missed
by 8-10 points a year out of time, and full Kelly on an overestimated edge loses money fast (half
the growth at a quarter of the variance is the usual trade-off); at most 10 % of capital in one
position, so that a book holds ten or more. Meta-labelling's literature claims its gain in sizing
rather than filtering; ``performance_summary`` compares the consensus sized this way with the same
signals equal-weighted (``performance.SIZED`` against ``performance.KELLY_EQUAL``: the Sharpe
difference with its interval). In those portfolios the weights are relative (the book is fully
invested among its open positions), so the fraction scales nothing there and the cap flattens the
largest weights; the served ``position_size`` is a fraction of capital.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SizingParams:
    kelly_fraction: float = 0.25
    max_position: float = 0.10


def payoff_ratio(entry, target, stop) -> np.ndarray:
    """Reward over risk of each signal: |target - entry| / |entry - stop| (NaN without a risk)."""
    entry, target, stop = (np.asarray(v, dtype=float) for v in (entry, target, stop))
    risk = np.abs(entry - stop)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(risk > 0, np.abs(target - entry) / risk, np.nan)


def kelly_size(probability, entry, target, stop, params: SizingParams = SizingParams()) -> np.ndarray:
    """Fraction of capital per signal: ``kelly_fraction`` × (p - (1 - p) / b), at most
    ``max_position``, 0 where the edge is not positive, NaN where there is no probability or payoff."""
    p = np.asarray(probability, dtype=float)
    b = payoff_ratio(entry, target, stop)
    with np.errstate(invalid="ignore", divide="ignore"):
        full = p - (1.0 - p) / b
    return np.clip(params.kelly_fraction * full, 0.0, params.max_position)
