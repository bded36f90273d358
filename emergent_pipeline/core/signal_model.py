"""The meta-labelling model: will this consensus signal make money, and how much? Trained, calibrated, judged.

Two answers per signal, both from features known at D's close:

* ``ml_probability``: the calibrated probability that the trade's net return at its triple-barrier
  exit is above zero. A gradient-boosted classifier (scikit-learn's HistGradientBoostingClassifier:
  missing values and categorical codes natively; early stopping off, since its internal split is
  random, not time-ordered) is fitted on the earlier part of the data, and a calibration (sigmoid or
  isotonic) on the most recent slice it has not seen, so that 0.7 can be read as "7 in 10 of these
  made money" in the market of now rather than of years ago.
* ``expected_return``: the model's estimate of the net return, by one of three designs
  (:data:`EXPECTED_RETURN_DESIGNS`, compared in the walk-forward replay): ``payoff`` takes the
  probability times the distance to the target minus its complement times the distance to the stop,
  less costs; ``regression`` is a gradient-boosted regressor on the net return (clipped at the
  training set's 1st and 99th percentiles); ``conditional`` is p × the expected return of a winner
  plus (1 - p) × that of a loser, each from its own regressor.

Every fold and the hold-out are purged and embargoed (``model_selection``). The hold-out decides
promotion; the model that is served is then refit on every resolved label, so that it is as recent
as the data allow, and records the newest label end it learned from.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import make_pipeline

from emergent_pipeline.core.costs import DEFAULT_COSTS, TradingCosts
from emergent_pipeline.core.features import CATEGORICAL_FEATURES
from emergent_pipeline.core.ml_metrics import classification_metrics
from emergent_pipeline.core.model_selection import SplitParams, Split, fit_and_calibration, walk_forward_splits
from emergent_pipeline.core.native_threads import bounded
from emergent_pipeline.core.recommendations import recommendations

EXPECTED_RETURN_DESIGNS = ("payoff", "regression", "conditional")
CALIBRATIONS = ("sigmoid", "isotonic")


@dataclass(frozen=True)
class ModelParams:
    """A small, regularised booster: a few thousand labels as noisy as trade outcomes support little
    more (7 leaves, at least 100 signals a leaf, 100 rounds)."""

    learning_rate: float = 0.05
    max_iter: int = 100
    max_leaf_nodes: int = 7
    min_samples_leaf: int = 100
    l2_regularization: float = 1.0
    random_state: int = 7
    calibration: str = "sigmoid"
    expected_return: str = "regression"
    cost_bps_per_side: float = DEFAULT_COSTS.bps_per_side
    """Only for the payoff design's costs: training sets it to the costs its labels record
    (``core.costs.recorded_costs``). A number, so that the parameters travel as a version's JSON tag."""

    def __post_init__(self) -> None:
        if self.calibration not in CALIBRATIONS:
            raise ValueError(f"unknown calibration {self.calibration!r}; valid: {', '.join(CALIBRATIONS)}")
        if self.expected_return not in EXPECTED_RETURN_DESIGNS:
            raise ValueError(f"unknown expected-return design {self.expected_return!r}; valid: {', '.join(EXPECTED_RETURN_DESIGNS)}")


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


def _boosted(kind, X: pd.DataFrame, params: ModelParams, **extra):
    return make_pipeline(EmptyColumnFiller(), kind(
        learning_rate=params.learning_rate, max_iter=params.max_iter, max_leaf_nodes=params.max_leaf_nodes,
        min_samples_leaf=params.min_samples_leaf, l2_regularization=params.l2_regularization, early_stopping=False,
        categorical_features=[c in CATEGORICAL_FEATURES for c in X.columns], random_state=params.random_state, **extra,
    ))


@bounded
def fit_classifier(X: pd.DataFrame, y: np.ndarray, fit: np.ndarray, calibrate: np.ndarray, params: ModelParams) -> CalibratedClassifierCV:
    """The booster on ``fit``, its probabilities calibrated on the later ``calibrate`` slice."""
    classifier = _boosted(HistGradientBoostingClassifier, X, params)
    classifier.fit(X.iloc[fit], y[fit])
    calibrated = CalibratedClassifierCV(FrozenEstimator(classifier), method=params.calibration)
    calibrated.fit(X.iloc[calibrate], y[calibrate])
    return calibrated


def payoff_return(X: pd.DataFrame, probability: np.ndarray, costs: TradingCosts) -> np.ndarray:
    """p × (target distance) - (1 - p) × (stop distance) - round-trip costs, the distances as returns
    from the entry (``target_atr`` × ``atr_pct``, ``stop_atr`` × ``atr_pct``)."""
    gain = (X["target_atr"] * X["atr_pct"]).to_numpy(dtype="float64")
    loss = (X["stop_atr"] * X["atr_pct"]).to_numpy(dtype="float64")
    return probability * gain - (1.0 - probability) * loss - costs.round_trip


@dataclass
class ReturnModel:
    """The expected net return of a signal under one design (see the module docstring)."""

    design: str
    cost_bps_per_side: float
    models: dict = field(default_factory=dict)

    @classmethod
    @bounded
    def fit(cls, X: pd.DataFrame, y: np.ndarray, returns: np.ndarray, rows: np.ndarray, params: ModelParams, design: str | None = None) -> "ReturnModel":
        design = design or params.expected_return
        model = cls(design, params.cost_bps_per_side)
        r = np.asarray(returns, dtype="float64")[rows]
        low, high = np.nanpercentile(r, [1, 99]) if len(r) else (0.0, 0.0)
        clipped = np.clip(r, low, high)
        if design == "regression":
            model.models["all"] = _boosted(HistGradientBoostingRegressor, X, params).fit(X.iloc[rows], clipped)
        elif design == "conditional":
            won = np.asarray(y)[rows] == 1
            for name, part in (("winners", won), ("losers", ~won)):
                model.models[name] = _boosted(HistGradientBoostingRegressor, X, params).fit(X.iloc[rows[part]], clipped[part])
        return model

    @bounded
    def predict(self, X: pd.DataFrame, probability: np.ndarray) -> np.ndarray:
        if self.design == "payoff":
            return payoff_return(X, probability, TradingCosts(self.cost_bps_per_side))
        if self.design == "regression":
            return self.models["all"].predict(X)
        return probability * self.models["winners"].predict(X) + (1.0 - probability) * self.models["losers"].predict(X)


@dataclass
class FeatureProfile:
    """Where the training rows lie, to flag a signal whose features lie far from all of them (what
    freqtrade's dissimilarity index does): per numeric feature, the median and interquartile range;
    a row's distance is the root mean square of its robust z-scores over the features it has, divided
    by the 99th percentile of the training rows' own distances. Above 1, a signal is farther from
    the training data than 99 % of the rows the model learned from: its score is an extrapolation."""

    columns: list[str]
    centre: np.ndarray
    scale: np.ndarray
    limit: float

    @classmethod
    def fit(cls, X: pd.DataFrame) -> FeatureProfile:
        numeric = X.select_dtypes(include=["number", "bool"]).astype("float64")
        centre = numeric.median().to_numpy()
        spread = (numeric.quantile(0.75) - numeric.quantile(0.25)).to_numpy()
        scale = np.where(spread > 0, spread, numeric.std().fillna(0).to_numpy())
        profile = cls(list(numeric.columns), centre, np.where(scale > 0, scale, 1.0), 1.0)
        profile.limit = float(np.nanpercentile(profile.raw_distance(X), 99)) or 1.0
        return profile

    def raw_distance(self, X: pd.DataFrame) -> np.ndarray:
        z = (X[self.columns].astype("float64").to_numpy() - self.centre) / self.scale
        known = (~np.isnan(z)).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):  # a row without a numeric feature has no distance
            return np.sqrt(np.nansum(z * z, axis=1) / known)

    def distance(self, X: pd.DataFrame) -> np.ndarray:
        """Each row's distance as a multiple of the training rows' 99th percentile."""
        return self.raw_distance(X) / self.limit


@dataclass
class SignalScorer:
    """What is registered and served: the calibrated classifier and the expected-return model, with
    the features they were trained on and where the training rows lie (a model registered before
    the profile existed has none)."""

    classifier: CalibratedClassifierCV
    returns: ReturnModel
    features: list[str]
    profile: FeatureProfile | None = None

    @bounded
    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self.classifier.predict_proba(check_features(X, self.features))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """The probability that the trade makes money (what MLflow's generic ``predict`` serves)."""
        return self.predict_proba(X)[:, 1]

    @bounded
    def score(self, X: pd.DataFrame, consensus_confidence, signal_type="BUY") -> pd.DataFrame:
        """ml_probability, expected_return and the recommendation fields (``core.recommendations``)."""
        X = check_features(X, self.features)
        probability = self.classifier.predict_proba(X)[:, 1] if len(X) else np.array([])
        expected = self.returns.predict(X, probability) if len(X) else np.array([])
        distance = self.profile.distance(X) if self.profile is not None and len(X) else np.full(len(X), np.nan)
        return recommendations(probability, expected, consensus_confidence, signal_type).assign(
            feature_distance=distance, out_of_distribution=pd.array(np.where(np.isnan(distance), None, distance > 1.0), dtype="boolean"))


def fit_scorer(X: pd.DataFrame, y: np.ndarray, returns: np.ndarray, fit: np.ndarray, calibrate: np.ndarray, params: ModelParams,
               design: str | None = None) -> SignalScorer:
    """A scorer whose classifier is fitted on ``fit`` and calibrated on ``calibrate``; the return
    model learns from both (it needs no calibration slice of its own)."""
    classifier = fit_classifier(X, y, fit, calibrate, params)
    learned = np.r_[fit, calibrate]
    return SignalScorer(classifier, ReturnModel.fit(X, y, returns, learned, params, design), list(X.columns),
                        FeatureProfile.fit(X.iloc[learned]))


@dataclass
class TrainingResult:
    scorer: SignalScorer
    """The served model: refit on every resolved label (the most recent slice calibrates it)."""
    features: list[str]
    fold_metrics: dict[str, dict[str, float]]
    holdout_metrics: dict[str, float]
    holdout_index: np.ndarray
    holdout_probability: np.ndarray
    holdout_base_rate: float
    label_end: pd.Timestamp
    """The newest exit date of a label the served model learned from: its learned window ends here."""
    holdout_start: pd.Timestamp
    holdout_end: pd.Timestamp
    holdout_split: Split
    samples: dict[str, int] = field(default_factory=dict)


@bounded
def train(X: pd.DataFrame, y: np.ndarray, returns: np.ndarray, dates: pd.Series, label_end: pd.Series, horizon: pd.Series,
          calendar: pd.DatetimeIndex, split_params: SplitParams = SplitParams(), params: ModelParams = ModelParams(),
          folds: bool = True) -> TrainingResult:
    """Folds (when ``folds``) and the hold-out judge a classifier trained before each; the served
    scorer is then refit on everything. ``X``, ``y``, ``returns``, ``dates``, ``label_end`` (exit
    dates) and ``horizon`` describe resolved signals only, in the same order."""
    y = np.asarray(y, dtype=int)
    dates = pd.Series(pd.to_datetime(dates).to_numpy())
    label_end = pd.Series(pd.to_datetime(label_end).to_numpy())
    splits = walk_forward_splits(dates, label_end, horizon, calendar, split_params if folds else replace(split_params, folds=0))
    fold_metrics = {}
    for split in splits[:-1]:
        if _learnable(y, split):
            model = fit_classifier(X, y, split.fit, split.calibrate, params)
            fold_metrics[split.name] = classification_metrics(y[split.test], model.predict_proba(X.iloc[split.test])[:, 1],
                                                              float(y[np.r_[split.fit, split.calibrate]].mean()))
    holdout = splits[-1]
    if not _learnable(y, holdout):
        raise ValueError("the hold-out split has too few labelled signals of both outcomes to train on")
    evaluation = fit_scorer(X, y, returns, holdout.fit, holdout.calibrate, params)
    probability = evaluation.predict_proba(X.iloc[holdout.test])[:, 1]
    base_rate = float(y[np.r_[holdout.fit, holdout.calibrate]].mean())
    everything = np.arange(len(y))
    embargo = int(split_params.embargo_bars if split_params.embargo_bars is not None else np.max(horizon))
    fit, calibrate = fit_and_calibration(dates, label_end, everything, calendar, embargo, split_params.calibration_fraction,
                                         split_params.calibration_days)
    served = fit_scorer(X, y, returns, fit, calibrate, params)
    return TrainingResult(
        scorer=served, features=list(X.columns), fold_metrics=fold_metrics,
        holdout_metrics=classification_metrics(y[holdout.test], probability, base_rate), holdout_index=holdout.test,
        holdout_probability=probability, holdout_base_rate=base_rate, label_end=pd.Timestamp(label_end.max()),
        holdout_start=pd.Timestamp(dates.iloc[holdout.test].min()), holdout_end=pd.Timestamp(dates.iloc[holdout.test].max()),
        holdout_split=holdout, samples={"evaluation_fit": len(holdout.fit), "evaluation_calibrate": len(holdout.calibrate), "holdout": len(holdout.test),
                 "served_fit": len(fit), "served_calibrate": len(calibrate)},
    )


def _learnable(y: np.ndarray, split: Split) -> bool:
    return len(split.test) > 0 and len(np.unique(y[split.fit])) == 2 and len(np.unique(y[split.calibrate])) == 2


@dataclass(frozen=True)
class PromotionRule:
    """The hold-out decides. A challenger is promoted when, on its hold-out, it is no worse than the
    champion judged on the same signals by a model of the champion's method trained on the same data
    before the hold-out: Brier score no higher, ROC AUC no lower (within ``auc_tolerance``). So a
    worse method never replaces a better one, and a retraining of the same method on fresher labels
    (a tie on the hold-out) does replace the older fit. In every case the challenger must also show
    an edge on its hold-out: a lower Brier score than the base-rate predictor and an ROC AUC above
    ``min_auc_without_champion`` (a model that does not rank is not served)."""

    auc_tolerance: float = 0.0
    min_auc_without_champion: float = 0.5


def promotion_decision(
    challenger: dict[str, float], champion: dict[str, float] | None, rule: PromotionRule = PromotionRule()
) -> tuple[bool, str]:
    """Whether the challenger becomes champion, and why, in words with the figures."""
    brier, auc, base = challenger["brier"], challenger["roc_auc"], challenger["brier_base_rate"]
    if not (brier < base and auc > rule.min_auc_without_champion):
        return False, (f"the challenger (Brier {brier:.4f} against the base rate's {base:.4f}, AUC {auc:.4f}) shows no edge "
                       "out of sample" + ("" if champion is None else ": champion kept"))
    if champion is None:
        return True, f"no champion yet; challenger Brier {brier:.4f} beats the base-rate predictor's {base:.4f} (AUC {auc:.4f})"
    if brier <= champion["brier"] and auc >= champion["roc_auc"] - rule.auc_tolerance:
        return True, f"challenger Brier {brier:.4f} <= champion's method {champion['brier']:.4f} and AUC {auc:.4f} >= {champion['roc_auc']:.4f}"
    return False, (f"challenger Brier {brier:.4f} vs champion's method {champion['brier']:.4f}, AUC {auc:.4f} vs "
                   f"{champion['roc_auc']:.4f}: champion kept")


@dataclass
class Judgement:
    promote: bool
    reason: str
    champion_metrics: dict[str, float] | None


@bounded
def judge(result: TrainingResult, X: pd.DataFrame, y: np.ndarray, params: ModelParams, champion_params: ModelParams | None,
          has_champion: bool, rule: PromotionRule = PromotionRule()) -> Judgement:
    """The promotion decision for a freshly trained challenger (``X`` and ``y``: the resolved signals
    it was trained on, as given to :func:`train`). The champion's method (``champion_params``) is
    refit on the challenger's pre-hold-out data; the same method as the challenger's needs no refit
    (it would give the same model)."""
    if not has_champion:
        promote, reason = promotion_decision(result.holdout_metrics, None, rule)
        return Judgement(promote, reason, None)
    if champion_params is None:
        return Judgement(False, "champion kept: its training parameters are unknown, so its method cannot be judged on this hold-out", None)
    split = result.holdout_split
    if champion_params == params:
        defending = result.holdout_metrics
    else:
        model = fit_classifier(X, np.asarray(y, dtype=int), split.fit, split.calibrate, champion_params)
        defending = classification_metrics(y[split.test], model.predict_proba(X.iloc[split.test])[:, 1], result.holdout_base_rate)
    promote, reason = promotion_decision(result.holdout_metrics, defending, rule)
    if champion_params == params:
        reason += " (same method as the champion: the fit on fresher labels serves)"
    return Judgement(promote, reason, defending)


class FeatureMismatchError(ValueError):
    """The features offered for scoring are not the ones the model was trained on."""


def check_features(X: pd.DataFrame, trained: list[str]) -> pd.DataFrame:
    """``X`` in the trained column order, or a clear error naming what is missing or extra."""
    missing = [c for c in trained if c not in X.columns]
    extra = [c for c in X.columns if c not in trained]
    if missing or extra:
        raise FeatureMismatchError(f"features differ from the model's training: missing {missing}, unexpected {extra}")
    return X[trained]
