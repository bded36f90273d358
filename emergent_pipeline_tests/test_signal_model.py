"""The model on synthetic signals: it finds a planted edge, admits noise is noise, is calibrated, and the
promotion rule keeps a better method; the recommendation needs a positive expected return."""

import numpy as np
import pandas as pd
import pytest

from emergent_pipeline.core.costs import TradingCosts
from emergent_pipeline.core.recommendations import recommendations
from emergent_pipeline.core.signal_model import (
    FeatureMismatchError, ModelParams, ReturnModel, check_features, judge, payoff_return,
    promotion_decision, train,
)

N = 3000
CALENDAR = pd.bdate_range("2014-01-01", periods=1000)


def synthetic(planted: bool, seed: int = 1, params: ModelParams = ModelParams()):
    """Success depends on x0 (and a little on x1) through noise when ``planted``; returns follow the label."""
    rng = np.random.default_rng(seed)
    positions = np.sort(rng.integers(0, 985, N))
    X = pd.DataFrame(rng.normal(size=(N, 6)), columns=[f"x{i}" for i in range(6)])
    if planted:
        y = (0.9 * X["x0"] + 0.4 * X["x1"] + rng.normal(scale=0.8, size=N) > 0).astype(int).to_numpy()
    else:
        y = rng.integers(0, 2, N)
    returns = np.where(y == 1, 0.02, -0.015) + rng.normal(scale=0.005, size=N)
    dates = pd.Series(CALENDAR[positions])
    label_end = pd.Series(CALENDAR[positions + rng.integers(1, 11, N)])
    result = train(X, y, returns, dates, label_end, pd.Series(np.full(N, 10)), CALENDAR, params=params)
    return result, X, y, returns, label_end


def test_pure_noise_gives_no_edge_and_is_not_promoted():
    result, *_ = synthetic(planted=False)
    metrics = result.holdout_metrics
    assert abs(metrics["roc_auc"] - 0.5) < 0.06
    promote, reason = promotion_decision(metrics, None)
    assert not promote and "no edge out of sample" in reason
    # Calibrated on a later slice, the probabilities stay near the base rate instead of inventing signal.
    assert np.std(result.holdout_probability) < 0.08


def test_a_planted_signal_is_learned_calibrated_and_promoted():
    result, X, y, _, label_end = synthetic(planted=True)
    metrics = result.holdout_metrics
    assert metrics["roc_auc"] > 0.8
    assert metrics["brier"] < metrics["brier_base_rate"] - 0.05
    assert metrics["ece"] < 0.06  # calibrated on a slice the classifier never saw
    assert metrics["precision_at_75"] > 0.8 and metrics["lift_at_75"] > 1.5
    assert promotion_decision(metrics, None)[0]
    assert set(result.fold_metrics) >= {"fold_2", "fold_3", "fold_4"}
    # The served model is refit on everything: it learned labels up to the newest exit.
    assert result.label_end == label_end.max() > result.holdout_start
    assert result.samples["served_fit"] + result.samples["served_calibrate"] > result.samples["evaluation_fit"] + result.samples["evaluation_calibrate"]


def test_early_stopping_is_off():
    result, *_ = synthetic(planted=True)
    booster = result.scorer.classifier.estimator.estimator.steps[-1][1]
    assert booster.early_stopping is False and booster.n_iter_ == ModelParams().max_iter


def test_a_challenger_of_a_worse_method_is_not_promoted_and_a_fresher_fit_of_the_same_is():
    """The champion's method, refit on the challenger's pre-hold-out data, is judged on the same
    hold-out. A crippled challenger (4 rounds of boosting at a tiny learning rate, so hardly any
    ranking) loses against the default method; the default method against itself is a tie and the
    fresher fit serves."""
    weak = ModelParams(learning_rate=0.001, max_iter=4)
    result, X, y, *_ = synthetic(planted=True, params=weak)
    verdict = judge(result, X, y, weak, ModelParams(), has_champion=True)
    assert not verdict.promote and "champion kept" in verdict.reason
    assert verdict.champion_metrics["roc_auc"] > result.holdout_metrics["roc_auc"]
    same, X, y, *_ = synthetic(planted=True)
    tie = judge(same, X, y, ModelParams(), ModelParams(), has_champion=True)
    assert tie.promote and "same method as the champion" in tie.reason
    unknown = judge(same, X, y, ModelParams(), None, has_champion=True)
    assert not unknown.promote and "cannot be judged" in unknown.reason


def test_promotion_against_a_champion():
    champion = {"brier": 0.20, "roc_auc": 0.70}
    assert promotion_decision({"brier": 0.19, "roc_auc": 0.70, "brier_base_rate": 0.25}, champion)[0]
    assert promotion_decision({"brier": 0.20, "roc_auc": 0.70, "brier_base_rate": 0.25}, champion)[0]  # a tie: the fresher fit
    assert not promotion_decision({"brier": 0.19, "roc_auc": 0.69, "brier_base_rate": 0.25}, champion)[0]  # worse AUC
    assert not promotion_decision({"brier": 0.21, "roc_auc": 0.75, "brier_base_rate": 0.25}, champion)[0]  # worse Brier
    # No edge of its own (AUC at 0.5, or no better than the base rate): never promoted, champion or not.
    assert not promotion_decision({"brier": 0.19, "roc_auc": 0.50, "brier_base_rate": 0.25}, champion)[0]
    assert not promotion_decision({"brier": 0.26, "roc_auc": 0.60, "brier_base_rate": 0.25}, None)[0]


def test_recommendations_follow_the_guides_tiers_and_need_a_positive_expected_return():
    expected = np.array([0.01, 0.01, 0.01, 0.01, 0.01, 0.01, -0.001, np.nan])
    frame = recommendations(np.array([0.80, 0.75, 0.61, 0.46, 0.45, 0.1, 0.9, 0.9]), expected, np.full(8, 0.5))
    assert frame["ml_recommendation"].tolist() == ["STRONG_BUY", "BUY", "BUY", "WEAK_BUY", "SKIP", "SKIP", "SKIP", "SKIP"]
    assert frame["ml_quality_score"].tolist() == ["HIGH", "MEDIUM", "MEDIUM", "LOW", "POOR", "POOR", "HIGH", "HIGH"]
    assert frame["confidence_adjustment"].tolist() == pytest.approx([0.3, 0.25, 0.11, -0.04, -0.05, -0.4, 0.4, 0.4])


def test_a_sell_signals_recommendation_names_a_sell():
    """Same probabilities and expected returns, one BUY and one SELL of each: the tier is the same,
    the SELL's name says sell; a SKIP stays SKIP."""
    probability, expected = np.repeat([0.80, 0.61, 0.46, 0.30, 0.90], 2), np.repeat([0.01, 0.01, 0.01, 0.01, -0.01], 2)
    frame = recommendations(probability, expected, np.full(10, 0.5), np.tile(["BUY", "SELL"], 5))
    assert frame["ml_recommendation"].tolist() == ["STRONG_BUY", "STRONG_SELL", "BUY", "SELL", "WEAK_BUY", "WEAK_SELL",
                                                   "SKIP", "SKIP", "SKIP", "SKIP"]
    assert frame["ml_quality_score"].tolist() == ["HIGH", "HIGH", "MEDIUM", "MEDIUM", "LOW", "LOW", "POOR", "POOR", "HIGH", "HIGH"]


def test_the_payoff_design_by_hand_and_every_design_predicts():
    X = pd.DataFrame({"target_atr": [2.0, 1.0], "atr_pct": [0.02, 0.01], "stop_atr": [1.0, 4.0]})
    # p 0.6: 0.6 × 4 % - 0.4 × 2 % - 0.2 % = 1.4 %; p 0.5: 0.5 × 1 % - 0.5 × 4 % - 0.2 % = -1.7 %
    assert payoff_return(X, np.array([0.6, 0.5]), TradingCosts(10.0)) == pytest.approx([0.014, -0.017])
    result, X, y, returns, _ = synthetic(planted=True)
    rows = np.arange(len(y))
    p = result.scorer.predict_proba(X)[:, 1]
    for design in ("regression", "conditional"):
        expected = ReturnModel.fit(X, y, returns, rows, ModelParams(), design).predict(X, p)
        assert np.corrcoef(expected, returns)[0, 1] > 0.3, design  # returns follow the planted label


def test_scoring_features_must_match_the_training_list():
    X = pd.DataFrame({"a": [1.0], "b": [2.0]})
    assert check_features(X, ["b", "a"]).columns.tolist() == ["b", "a"]
    with pytest.raises(FeatureMismatchError, match=r"missing \['c'\], unexpected \['a'\]"):
        check_features(X, ["b", "c"])
