"""The meta-labelling model: will this consensus signal work? Trained, calibrated, judged, mapped.

A gradient-boosted classifier (scikit-learn's HistGradientBoostingClassifier: handles missing
values and categorical codes natively) is fitted on the earlier part of the training period; a
sigmoid (Platt) calibration is fitted on a later slice it has not seen, so that its probabilities
can be read as frequencies. Every fold and the final hold-out are purged and embargoed
(``model_selection``). The model that is registered is the hold-out split's: its metrics are the
honest out-of-sample figures of exactly what gets served.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import make_pipeline

from emergent_pipeline.core.features import CATEGORICAL_FEATURES
from emergent_pipeline.core.ml_metrics import classification_metrics
from emergent_pipeline.core.model_selection import Split

RECOMMENDATIONS = [(0.75, "STRONG_BUY", "HIGH"), (0.60, "BUY", "MEDIUM"), (0.45, "WEAK_BUY", "LOW")]


@dataclass(frozen=True)
class ModelParams:
    learning_rate: float = 0.05
    max_iter: int = 200
    max_leaf_nodes: int = 15
    min_samples_leaf: int = 40
    l2_regularization: float = 1.0
    random_state: int = 7


@dataclass
class TrainingResult:
    model: CalibratedClassifierCV
    features: list[str]
    fold_metrics: dict[str, dict[str, float]]
    holdout_metrics: dict[str, float]
    holdout_index: np.ndarray
    holdout_probability: np.ndarray
    training_cutoff: pd.Timestamp
    """The newest signal date the served model learned from (fit or calibration)."""
    holdout_start: pd.Timestamp
    holdout_end: pd.Timestamp
    samples: dict[str, int] = field(default_factory=dict)


class FeatureMismatchError(ValueError):
    """The features offered for scoring are not the ones the model was trained on."""


class EmptyColumnFiller(TransformerMixin, BaseEstimator):
    """Fills, with 0, the columns that had no value at all when fitted (an early fold before any
    200-bar history, a source with no sectors): scikit-learn's histogram binning cannot bin a column
    with no value. Applied identically at fit and at predict; other missing values stay missing."""

    def fit(self, X, y=None):
        self.empty_ = np.asarray(pd.DataFrame(X).isna().all(axis=0))
        return self

    def transform(self, X):
        values = pd.DataFrame(X).copy()
        values.loc[:, self.empty_] = 0.0
        return values


def fit_calibrated(X: pd.DataFrame, y: np.ndarray, fit: np.ndarray, calibrate: np.ndarray, params: ModelParams) -> CalibratedClassifierCV:
    booster = HistGradientBoostingClassifier(
        learning_rate=params.learning_rate, max_iter=params.max_iter, max_leaf_nodes=params.max_leaf_nodes,
        min_samples_leaf=params.min_samples_leaf, l2_regularization=params.l2_regularization,
        categorical_features=[c in CATEGORICAL_FEATURES for c in X.columns], random_state=params.random_state,
    )
    classifier = make_pipeline(EmptyColumnFiller(), booster)
    classifier.fit(X.iloc[fit], y[fit])
    calibrated = CalibratedClassifierCV(FrozenEstimator(classifier), method="sigmoid")
    calibrated.fit(X.iloc[calibrate], y[calibrate])
    return calibrated


def train(X: pd.DataFrame, y: np.ndarray, dates: pd.Series, splits: list[Split], params: ModelParams = ModelParams()) -> TrainingResult:
    """Fit and score every split; the last split (the hold-out) gives the served model."""
    y = np.asarray(y, dtype=int)
    dates = pd.Series(pd.to_datetime(dates).to_numpy())
    fold_metrics = {}
    for split in splits:
        if len(np.unique(y[split.fit])) < 2 or len(np.unique(y[split.calibrate])) < 2:
            continue  # too early in the history to learn anything
        model = fit_calibrated(X, y, split.fit, split.calibrate, params)
        probability = model.predict_proba(X.iloc[split.test])[:, 1]
        base_rate = float(y[np.r_[split.fit, split.calibrate]].mean())
        fold_metrics[split.name] = classification_metrics(y[split.test], probability, base_rate)
    holdout = splits[-1]
    if "holdout" not in fold_metrics:
        raise ValueError("the hold-out split has too few labelled signals of both outcomes to train on")
    learned = np.r_[holdout.fit, holdout.calibrate]
    return TrainingResult(
        model=model,
        features=list(X.columns),
        fold_metrics={k: v for k, v in fold_metrics.items() if k != "holdout"},
        holdout_metrics=fold_metrics["holdout"],
        holdout_index=holdout.test,
        holdout_probability=probability,
        training_cutoff=pd.Timestamp(dates.iloc[learned].max()),
        holdout_start=pd.Timestamp(dates.iloc[holdout.test].min()),
        holdout_end=pd.Timestamp(dates.iloc[holdout.test].max()),
        samples={"fit": len(holdout.fit), "calibrate": len(holdout.calibrate), "holdout": len(holdout.test)},
    )


@dataclass(frozen=True)
class PromotionRule:
    """Default: a challenger must have a lower Brier score and no worse ROC AUC than the champion
    on the same hold-out; with no champion, a lower Brier score than the base-rate predictor."""

    metric: str = "brier"
    auc_tolerance: float = 0.0


def promotion_decision(
    challenger: dict[str, float], champion: dict[str, float] | None, rule: PromotionRule = PromotionRule()
) -> tuple[bool, str]:
    """Whether the challenger becomes champion, and why, in words with the figures."""
    brier, auc = challenger["brier"], challenger["roc_auc"]
    if champion is None:
        base = challenger["brier_base_rate"]
        if brier < base:
            return True, f"no champion yet; challenger Brier {brier:.4f} beats the base-rate predictor's {base:.4f}"
        return False, f"no champion, and the challenger's Brier {brier:.4f} does not beat the base-rate predictor's {base:.4f}: no edge out of sample"
    if brier < champion["brier"] and auc >= champion["roc_auc"] - rule.auc_tolerance:
        return True, f"challenger Brier {brier:.4f} < champion {champion['brier']:.4f} and AUC {auc:.4f} >= {champion['roc_auc']:.4f}"
    return False, f"challenger Brier {brier:.4f} vs champion {champion['brier']:.4f}, AUC {auc:.4f} vs {champion['roc_auc']:.4f}: champion kept"


def check_features(X: pd.DataFrame, trained: list[str]) -> pd.DataFrame:
    """``X`` in the trained column order, or a clear error naming what is missing or extra."""
    missing = [c for c in trained if c not in X.columns]
    extra = [c for c in X.columns if c not in trained]
    if missing or extra:
        raise FeatureMismatchError(f"features differ from the model's training: missing {missing}, unexpected {extra}")
    return X[trained]


def recommendations(probability: np.ndarray, consensus_confidence: np.ndarray) -> pd.DataFrame:
    """The guide's fields: > .75 STRONG_BUY / HIGH, > .60 BUY / MEDIUM, > .45 WEAK_BUY / LOW, else
    SKIP / POOR; confidence_adjustment = ml_probability - consensus_confidence."""
    p = np.asarray(probability, dtype=float)
    conditions = [p > threshold for threshold, _, _ in RECOMMENDATIONS]
    return pd.DataFrame(
        {
            "ml_probability": p,
            "ml_recommendation": np.select(conditions, [r for _, r, _ in RECOMMENDATIONS], "SKIP"),
            "ml_quality_score": np.select(conditions, [q for _, _, q in RECOMMENDATIONS], "POOR"),
            "confidence_adjustment": p - np.asarray(consensus_confidence, dtype=float),
        }
    )
