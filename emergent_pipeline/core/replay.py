"""A walk-forward replay of the whole ML lifecycle over history, as the product would have lived it.

At each retraining point (the retraining policy's cadence: once ``min_new_outcomes`` outcomes have
resolved since the last training, or ``max_age_days`` after it), a challenger is trained and
calibrated on the labels resolved before that day, judged on its own hold-out against the champion
of the moment by the promotion rule, and, promoted or not, the champion scores every consensus
signal dated from that day to the next point, at the signal's own close. Nothing it issues was
scored by a model that saw the outcome: every training label ended before the first signal the
model scores. Its scores are the as-issued record of history, so history is out of sample by
construction, and a model trained once is not what is being measured.

The expected return of every design (``signal_model.EXPECTED_RETURN_DESIGNS``) is issued beside the
served one, so that the designs can be compared on the same signals.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from scipy.stats import spearmanr

from emergent_pipeline.core.model_selection import SplitParams
from emergent_pipeline.core.native_threads import bounded
from emergent_pipeline.core.performance import BootstrapParams, bootstrap_comparison, edge_verdict
from emergent_pipeline.core.recommendations import SKIP, recommendations
from emergent_pipeline.core.signal_model import EXPECTED_RETURN_DESIGNS, ModelParams, PromotionRule, ReturnModel, TrainingResult, judge, train


@dataclass(frozen=True)
class ReplayParams:
    min_labelled: int = 200
    min_new_outcomes: int = 200
    max_age_days: int = 30
    splits: SplitParams = field(default_factory=lambda: SplitParams(folds=0))
    model: ModelParams = field(default_factory=ModelParams)
    promotion: PromotionRule = field(default_factory=PromotionRule)


@dataclass
class ReplayResult:
    scores: pd.DataFrame
    """One row per consensus signal (the input's order): issued_on, model_id, model_label_end,
    ml_probability, expected_return (served design), the recommendation fields, expected_return_<design>
    for each design, ml_status and ml_reason."""
    retrains: pd.DataFrame
    """One row per retraining point: the day, labels known, label end, hold-out metrics of the
    challenger and of the champion, the decision and its reason, the serving model from then on."""


def retraining_points(exit_dates: np.ndarray, calendar: pd.DatetimeIndex, params: ReplayParams) -> list[pd.Timestamp]:
    """The trading days on which the policy retrains: the first day with ``min_labelled`` resolved
    outcomes, then each day on which ``min_new_outcomes`` more have resolved since the last point or
    ``max_age_days`` have passed, whichever comes first. A loop over retraining points, not rows."""
    exits = np.sort(pd.to_datetime(exit_dates[~pd.isna(exit_dates)]).to_numpy(dtype="datetime64[ns]"))
    days = calendar.to_numpy(dtype="datetime64[ns]")
    if len(exits) < params.min_labelled:
        return []

    def day_after(moment: np.datetime64) -> int:
        return int(np.searchsorted(days, moment, side="right"))

    points, position = [], day_after(exits[params.min_labelled - 1])
    while position < len(days):
        point = days[position]
        points.append(pd.Timestamp(point))
        resolved = np.searchsorted(exits, point, side="left")  # labels that ended before this day
        by_count = day_after(exits[resolved + params.min_new_outcomes - 1]) if resolved + params.min_new_outcomes <= len(exits) else len(days)
        by_age = int(np.searchsorted(days, point + np.timedelta64(params.max_age_days, "D"), side="left"))
        position = max(min(by_count, by_age), position + 1)
    return points


Mapper = Callable[[Callable, Iterable, Sequence], Iterator]
"""``(function, items, shared)`` → ``function(item, *shared)`` for each item, in order; where they run
is the caller's (``engine.ordered_map`` runs them on a Dask cluster when one is configured)."""


def in_this_process(function: Callable, items: Iterable, shared: Sequence = ()) -> Iterator:
    return (function(item, *shared) for item in items)


@dataclass(frozen=True)
class LearningRecord:
    """Every consensus signal's features and label (NaN while open), sent once to whoever trains."""

    X: pd.DataFrame
    y: np.ndarray
    returns: np.ndarray
    dates: np.ndarray
    exits: np.ndarray
    validity_days: pd.Series
    calendar: pd.DatetimeIndex
    params: ReplayParams

    def known_before(self, point: pd.Timestamp) -> np.ndarray:
        """The rows whose label had resolved before ``point``."""
        return np.flatnonzero(~np.isnan(self.y) & (self.exits < np.datetime64(point)))


@bounded
def trained_at(point: pd.Timestamp, record: LearningRecord) -> TrainingResult | str:
    """The challenger trained and calibrated on the labels resolved before ``point``, or why none could
    be (too early: a hold-out without both outcomes). Independent of every other point: the points'
    trainings can run anywhere, side by side; only the promotions that follow are sequential."""
    known = record.known_before(point)
    try:
        return train(record.X.iloc[known].reset_index(drop=True), record.y[known].astype(int), record.returns[known],
                     pd.Series(record.dates[known]), pd.Series(record.exits[known]), record.validity_days.iloc[known], record.calendar,
                     record.params.splits, record.params.model, folds=False)
    except ValueError as error:
        return str(error)


@bounded
def walk_forward_replay(X: pd.DataFrame, labels: pd.DataFrame, consensus_confidence: np.ndarray, calendar: pd.DatetimeIndex,
                        params: ReplayParams = ReplayParams(), mapper: Mapper = in_this_process) -> ReplayResult:
    """``X`` (features) and ``labels`` (``date``, ``exit_date``, ``label``, ``return_net``,
    ``validity_days``; NaN label while open; ``signal_type``, BUY when absent) describe every
    consensus signal, in the same order. The trainings at the retraining points run through
    ``mapper``; the promotions, the other designs' fits and the scoring follow here, in order."""
    dates = pd.to_datetime(labels["date"]).to_numpy(dtype="datetime64[ns]")
    exits = pd.to_datetime(labels["exit_date"]).to_numpy(dtype="datetime64[ns]")
    resolved = labels["label"].notna().to_numpy()
    y = labels["label"].to_numpy(dtype="float64")
    returns = labels["return_net"].to_numpy(dtype="float64")
    signal_types = labels["signal_type"].to_numpy() if "signal_type" in labels else np.full(len(labels), "BUY")
    points = retraining_points(np.where(resolved, exits, np.datetime64("NaT")), calendar, params)
    record = LearningRecord(X, y, returns, dates, exits, labels["validity_days"], calendar, params)
    trainings = mapper(trained_at, points, (record,))

    scores = pd.DataFrame({"issued_on": dates, "model_id": None, "model_label_end": pd.NaT, "ml_probability": np.nan,
                           "expected_return": np.nan, "ml_recommendation": None, "ml_quality_score": None, "confidence_adjustment": np.nan,
                           "feature_distance": np.nan, "out_of_distribution": None,
                           **{f"expected_return_{d}": np.nan for d in EXPECTED_RETURN_DESIGNS},
                           "ml_status": "unscored", "ml_reason": "no model yet: too few resolved outcomes to train on"})
    retrains, champion, champion_id, champion_end = [], None, None, None
    for k, (point, result) in enumerate(zip(points, trainings)):
        known = record.known_before(point)
        until = np.datetime64(points[k + 1]) if k + 1 < len(points) else np.datetime64("NaT")
        scored = np.flatnonzero((dates >= np.datetime64(point)) & ((dates < until) if k + 1 < len(points) else True))
        row = {"point": point, "labels_known": len(known), "signals_scored": len(scored)}
        if isinstance(result, str):
            row |= {"decision": "not trained", "reason": result}
        else:
            verdict = judge(result, X.iloc[known].reset_index(drop=True), y[known].astype(int), params.model, params.model,
                            champion is not None, params.promotion)
            promote, reason = verdict.promote, verdict.reason
            model_id = f"replay-{point:%Y-%m-%d}"
            if promote:
                champion, champion_id, champion_end = result.scorer, model_id, result.label_end
                champion_designs = {d: ReturnModel.fit(X.iloc[known].reset_index(drop=True), y[known].astype(int), returns[known],
                                                       np.arange(len(known)), params.model, d) for d in EXPECTED_RETURN_DESIGNS
                                    if d != params.model.expected_return}
            row |= {"decision": "promoted" if promote else "kept champion", "reason": reason, "model_id": model_id,
                    "label_end": result.label_end, "holdout_start": result.holdout_start,
                    **{f"challenger_{m}": result.holdout_metrics[m] for m in ("count", "roc_auc", "brier", "brier_base_rate", "ece")},
                    **{f"champion_{m}": (verdict.champion_metrics or {}).get(m, np.nan) for m in ("roc_auc", "brier")}}
        row["serving"] = champion_id
        retrains.append(row)
        if champion is None or len(scored) == 0:
            continue
        issued = champion.score(X.iloc[scored], consensus_confidence[scored], signal_types[scored])
        issued_columns = ["ml_probability", "expected_return", "ml_recommendation", "ml_quality_score", "confidence_adjustment",
                          "feature_distance", "out_of_distribution"]
        scores.loc[scored, issued_columns] = issued[issued_columns].to_numpy()
        scores.loc[scored, f"expected_return_{params.model.expected_return}"] = issued["expected_return"].to_numpy()
        for design, model in champion_designs.items():
            scores.loc[scored, f"expected_return_{design}"] = model.predict(X.iloc[scored][champion.features], issued["ml_probability"].to_numpy())
        scores.loc[scored, ["model_id", "ml_status", "ml_reason"]] = [champion_id, "scored", None]
        scores.loc[scored, "model_label_end"] = champion_end
    scores["model_label_end"] = pd.to_datetime(scores["model_label_end"])
    return ReplayResult(scores, pd.DataFrame(retrains))


def compare_designs(trades: pd.DataFrame, calendar: pd.DatetimeIndex, bootstrap: BootstrapParams = BootstrapParams()) -> pd.DataFrame:
    """The expected-return designs on the same as-issued, resolved trades (``return_net``,
    ``entry_date``, ``ml_probability``, ``expected_return_<design>``): the signals each would
    recommend (probability tier and a positive expected return), their mean net return per trade with
    a day-block bootstrap interval, the same against the unfiltered consensus, and how well the
    expected return ranks the realised one (Spearman; mean of the better half)."""
    rows = []
    for design in EXPECTED_RETURN_DESIGNS:
        expected = trades[f"expected_return_{design}"]
        recommended = trades[recommendations(trades["ml_probability"], expected, 0.0)["ml_recommendation"].ne(SKIP).to_numpy()]
        intervals = bootstrap_comparison(recommended, trades, None, calendar, bootstrap)
        rows.append({
            "design": design, "recommended": len(recommended), "mean_return": recommended["return_net"].mean(),
            "mean_return_low": intervals["mean_return_low"], "mean_return_high": intervals["mean_return_high"],
            "vs_unfiltered_low": intervals["vs_unfiltered_low"], "vs_unfiltered_high": intervals["vs_unfiltered_high"],
            "spearman": float(spearmanr(expected, trades["return_net"], nan_policy="omit").statistic),
            "better_half_mean": trades.loc[expected >= expected.median(), "return_net"].mean(), "mean_expected": expected.mean(),
            "verdict": edge_verdict(len(recommended), intervals["vs_unfiltered_low"], intervals["vs_unfiltered_high"], params=bootstrap),
        })
    return pd.DataFrame(rows)
