"""Time-ordered, purged and embargoed splits for signals whose labels look into the future.

A label of a signal dated D is only known at its exit (up to one horizon later). A training sample
is usable for a test block starting at t0 only if its label was known before t0 (purge) and its
own date lies at least one horizon of trading days before t0 (embargo), so that no information from
the test period, and no autocorrelated neighbour of it, leaks into training.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class SplitParams:
    folds: int = 4
    holdout_fraction: float = 0.2
    calibration_fraction: float = 0.25
    calibration_days: int | None = None
    """The calibration slice as the last this many trading days of the training data, instead of
    the last ``calibration_fraction`` of its days: a fixed recent window follows a drifting base rate."""
    embargo_bars: int | None = None
    """Gap between training dates and a test block, in trading days; None = the longest horizon."""


@dataclass(frozen=True)
class Split:
    name: str
    fit: np.ndarray  # positions of the samples the classifier is fitted on
    calibrate: np.ndarray  # a later slice, for the probability calibration
    test: np.ndarray


def usable_before(dates: pd.Series, label_end: pd.Series, start: pd.Timestamp, calendar: pd.DatetimeIndex, embargo_bars: int) -> np.ndarray:
    """Mask of samples whose label ended before ``start`` and whose date is at least
    ``embargo_bars`` trading days before it."""
    position = calendar.searchsorted(start)
    cutoff = calendar[max(position - embargo_bars, 0)]
    return ((label_end < start) & (dates < cutoff)).to_numpy()


def fit_and_calibration(dates, label_end, candidates: np.ndarray, calendar, embargo_bars, calibration_fraction,
                        calibration_days: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Split the usable training samples into an earlier fitting part and a later calibration
    slice (the last ``calibration_days`` trading days, or the last ``calibration_fraction`` of the
    dates), purged and embargoed from each other the same way as from the test."""
    chosen = dates.iloc[candidates]
    calibration_start = chosen.quantile(1.0 - calibration_fraction, interpolation="lower")
    if calibration_days is not None:
        newest = calendar.searchsorted(chosen.max())
        calibration_start = max(calendar[max(newest - calibration_days + 1, 0)], chosen.min())
    calibrate = candidates[(chosen >= calibration_start).to_numpy()]
    fit_mask = usable_before(dates, label_end, calibration_start, calendar, embargo_bars)
    fit = np.intersect1d(candidates, np.flatnonzero(fit_mask))
    return fit, calibrate


def walk_forward_splits(
    dates: pd.Series, label_end: pd.Series, horizon: pd.Series, calendar: pd.DatetimeIndex, params: SplitParams = SplitParams()
) -> list[Split]:
    """Folds of the period before the hold-out (expanding training windows), then the final split:
    everything usable before the hold-out against the most recent ``holdout_fraction`` of dates.

    ``dates``, ``label_end`` and ``horizon`` describe the labelled samples (same index order);
    ``calendar`` is every trading day.
    """
    dates = pd.Series(pd.to_datetime(dates).to_numpy())
    label_end = pd.Series(pd.to_datetime(label_end).to_numpy())
    embargo = int(params.embargo_bars if params.embargo_bars is not None else np.max(horizon))
    unique_days = np.sort(dates.unique())
    holdout_start = pd.Timestamp(unique_days[int(len(unique_days) * (1.0 - params.holdout_fraction))])
    before = unique_days[unique_days < np.datetime64(holdout_start)]
    # The first block only trains; each later block is tested on with all usable earlier samples.
    edges = [pd.Timestamp(before[int(len(before) * k / (params.folds + 1))]) for k in range(1, params.folds + 1)] + [holdout_start]
    splits = []
    for k in range(params.folds):
        start, end = edges[k], edges[k + 1]
        test = np.flatnonzero(((dates >= start) & (dates < end)).to_numpy())
        candidates = np.flatnonzero(usable_before(dates, label_end, start, calendar, embargo))
        if len(test) and len(candidates) > 10:
            splits.append(Split(f"fold_{k + 1}", *fit_and_calibration(dates, label_end, candidates, calendar, embargo, params.calibration_fraction, params.calibration_days), test))
    test = np.flatnonzero((dates >= holdout_start).to_numpy())
    candidates = np.flatnonzero(usable_before(dates, label_end, holdout_start, calendar, embargo))
    splits.append(Split("holdout", *fit_and_calibration(dates, label_end, candidates, calendar, embargo, params.calibration_fraction, params.calibration_days), test))
    return splits
