"""Watching the served scores: how old the model is, and whether its newest record still holds.

Two checks a user of a score needs and cannot make from one signal:

- **Model age.** A score from a model whose newest learned outcome ended more than
  :data:`MAX_MODEL_AGE_DAYS` before the day it is read is marked stale. The retraining policy
  retrains after 30 days (``RetrainingPolicy``); three times that means the loop has stopped, and a
  quarter of the market's outcomes has gone unseen.
- **The forward record.** Over the resolved signals scored on their own day and exited in the year
  to a day (the earn-its-place rule's window), the probabilities must stay within
  :data:`MAX_CALIBRATION_GAP` of what happened (the issue's standard: within 5 points in every year)
  unless the success rate's 95 % interval still holds the mean probability, and the probability must
  still rank the net returns (its standing under ``core.earned_place``). When either fails, the
  ``signal_outcomes_forward_record_holds`` check warns and the retraining sensor asks for a new model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from emergent_pipeline.core.earned_place import EarnParams, component_standing
from emergent_pipeline.core.performance import trade_statistics

MAX_MODEL_AGE_DAYS = 90
MAX_CALIBRATION_GAP = 0.05


def model_age_days(day, label_end) -> np.ndarray:
    """Days from each score's model's newest learned label end to ``day`` (NaN without one)."""
    ends = pd.to_datetime(pd.Series(label_end, dtype="object"))
    return ((pd.Timestamp(day) - ends).dt.days).to_numpy(dtype="float64")


@dataclass(frozen=True)
class RecordHealth:
    judged: bool
    """Whether enough resolved signals were in the window to judge (``EarnParams.min_signals``)."""
    calibrated: bool
    ranks: bool
    signals: int
    success_rate: float
    success_low: float
    success_high: float
    mean_probability: float
    standing: str
    """The probability's standing under the earn-its-place rule, in words."""

    @property
    def holds(self) -> bool:
        return not self.judged or (self.calibrated and self.ranks)

    def sentence(self, day: pd.Timestamp) -> str:
        if not self.judged:
            return f"too few resolved signals in the year to {day:%Y-%m-%d} to judge the forward record ({self.signals})"
        gap = self.mean_probability - self.success_rate
        calibration = (f"mean probability {self.mean_probability:.1%} against {self.success_rate:.1%} that made money "
                       f"({self.success_low:.1%}-{self.success_high:.1%}) over {self.signals} signals: "
                       + ("calibrated" if self.calibrated else f"off by {gap * 100:+.1f} points"))
        return f"{calibration}; {self.standing}"


def forward_record_health(record: pd.DataFrame, day, params: EarnParams = EarnParams(),
                          max_gap: float = MAX_CALIBRATION_GAP) -> RecordHealth:
    """The health of the as-issued record in the ``params.window_days`` to ``day``: ``record`` holds
    resolved signals scored on their own day (``exit_date``, ``entry_date``, ``return_net``,
    ``label``, ``ml_probability``, ``expected_return``)."""
    day = pd.Timestamp(day)
    exits = pd.to_datetime(record["exit_date"])
    window = record[(exits > day - pd.Timedelta(days=params.window_days)) & (exits <= day)]
    stats = trade_statistics(window["return_net"])
    mean_probability = float(window["ml_probability"].mean()) if len(window) else np.nan
    standing = component_standing(record, [day], params).iloc[0]
    judged = len(window) >= params.min_signals
    inside = stats["hit_rate_low"] <= mean_probability <= stats["hit_rate_high"] if judged else True
    calibrated = bool(inside or abs(mean_probability - stats["hit_rate"]) <= max_gap)
    return RecordHealth(judged, calibrated, bool(standing["probability_earned"]), len(window), stats["hit_rate"], stats["hit_rate_low"],
                        stats["hit_rate_high"], mean_probability, standing["probability_standing"])
