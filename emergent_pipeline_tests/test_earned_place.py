"""The earn-its-place rule on hand-made records: a component whose record goes flat is suspended, and
comes back when it recovers; only outcomes known on the day count; the recommendation steps aside
to the consensus' tier."""

import numpy as np
import pandas as pd
import pytest

from emergent_pipeline.core.earned_place import (
    EarnParams, component_standing, earned_recommendations, spearman_interval, with_earned_place,
)

DAYS = pd.bdate_range("2019-01-01", "2021-12-31")


def record(pattern):
    """One resolved signal per business day, exiting that day: in a year where ``pattern`` says
    "ranks", the net return rises with both the probability and the expected return; in a "flat"
    year it is noise that neither predicts."""
    rng = np.random.default_rng(11)
    probability = rng.uniform(0.2, 0.8, len(DAYS))
    expected = rng.normal(0.0, 0.01, len(DAYS))
    noise = rng.normal(0.0, 0.02, len(DAYS))
    ranks = np.array([pattern[d.year] == "ranks" for d in DAYS])
    returns = np.where(ranks, 0.05 * (probability - 0.5) + 2.0 * expected + 0.2 * noise, noise)
    return pd.DataFrame({"entry_date": DAYS - pd.Timedelta(days=10), "exit_date": DAYS, "return_net": returns,
                         "ml_probability": probability, "expected_return": expected, "label": (returns > 0).astype(float)})


def test_a_component_whose_record_goes_flat_is_suspended_and_comes_back_when_it_recovers():
    trades = record({2019: "ranks", 2020: "flat", 2021: "ranks"})
    standing = component_standing(trades, pd.to_datetime(["2019-12-31", "2020-12-31", "2021-12-31"]))
    for component in ("probability", "expected_return"):
        assert standing[f"{component}_earned"].tolist() == [True, False, True]
    assert standing.loc["2020-12-31", "probability_standing"].startswith("probability suspended: rank correlation with the net return")
    in_window = ((DAYS > pd.Timestamp("2020-12-31") - pd.Timedelta(days=365)) & (DAYS <= pd.Timestamp("2020-12-31"))).sum()  # from 2020-01-02
    assert f"the {in_window} signals resolved in the 365 days to 2020-12-31" in standing.loc["2020-12-31", "probability_standing"]


def test_too_few_resolved_signals_suspend_a_component():
    standing = component_standing(record({2019: "ranks", 2020: "ranks", 2021: "ranks"}), pd.to_datetime(["2019-03-29"]))
    # 2019-01-01 .. 2019-03-29 holds 64 business days: fewer than 100 signals, however well they rank.
    assert not standing["probability_earned"].iloc[0]
    assert standing["probability_standing"].iloc[0] == (
        "probability suspended: the 64 signals resolved in the 365 days to 2019-03-29, fewer than 100, are too few to judge it")


def test_only_outcomes_exited_by_the_day_are_judged():
    trades = record({2019: "ranks", 2020: "ranks", 2021: "ranks"})
    day = pd.Timestamp("2019-12-31")
    before = component_standing(trades, [day])
    later = trades["exit_date"] > day
    spoiled = trades.assign(return_net=np.where(later, -10.0 * trades["ml_probability"], trades["return_net"]))  # future outcomes reversed
    assert component_standing(spoiled, [day]).equals(before)
    window = trades[(trades["exit_date"] > day - pd.Timedelta(days=365)) & (trades["exit_date"] <= day)]
    assert f"the {len(window)} signals resolved" in before["probability_standing"].iloc[0]


def test_the_interval_counts_entry_days_not_trades():
    x = np.arange(200.0)
    y = x + np.random.default_rng(0).normal(0, 60, 200)
    rho, low, high = spearman_interval(x, y, independent=200, confidence=0.95)
    _, low_few, high_few = spearman_interval(x, y, independent=20, confidence=0.95)
    assert low < rho < high and low_few < low and high_few > high
    # Fisher's z by hand: tanh(atanh(rho) ± 1.96 · sqrt(1.06 / 197)).
    assert low == pytest.approx(np.tanh(np.arctanh(rho) - 1.959964 * np.sqrt(1.06 / 197)), abs=1e-6)


def test_the_recommendation_steps_aside_to_the_consensus_tier():
    probability = [0.80, 0.80, 0.80, 0.50, 0.50, 0.80]
    expected = [0.01, -0.01, -0.01, 0.01, -0.01, 0.01]
    tier = ["LOW", "LOW", "HIGH", "MEDIUM", "MEDIUM", "HIGH"]
    kind = ["BUY", "BUY", "BUY", "BUY", "BUY", "SELL"]
    both = earned_recommendations(probability, expected, tier, kind, [True] * 6, [True] * 6)
    assert both.tolist() == ["STRONG_BUY", "SKIP", "SKIP", "WEAK_BUY", "SKIP", "STRONG_SELL"]
    no_expected = earned_recommendations(probability, expected, tier, kind, [True] * 6, [False] * 6)
    assert no_expected.tolist() == ["STRONG_BUY", "STRONG_BUY", "STRONG_BUY", "WEAK_BUY", "WEAK_BUY", "STRONG_SELL"]
    no_probability = earned_recommendations(probability, expected, tier, kind, [False] * 6, [True] * 6)
    assert no_probability.tolist() == ["WEAK_BUY", "SKIP", "SKIP", "BUY", "SKIP", "STRONG_SELL"]
    neither = earned_recommendations(probability, expected, tier, kind, [False] * 6, [False] * 6)
    assert neither.tolist() == ["WEAK_BUY", "WEAK_BUY", "STRONG_BUY", "BUY", "BUY", "STRONG_SELL"]
    before_the_rule = earned_recommendations(probability, expected, tier, kind, [None] * 6, [None] * 6)
    assert before_the_rule.tolist() == both.tolist()


def test_each_score_is_judged_on_its_own_issue_day():
    trades = record({2019: "ranks", 2020: "flat", 2021: "ranks"})
    scored = pd.DataFrame({"issued_on": pd.to_datetime(["2019-12-31", "2020-12-31"]), "signal_type": "BUY", "quality_tier": "MEDIUM",
                           "ml_probability": [0.3, 0.3], "expected_return": [0.01, 0.01], "ml_recommendation": ["SKIP", "SKIP"]})
    judged = with_earned_place(scored, trades, EarnParams())
    assert judged["model_recommendation"].tolist() == ["SKIP", "SKIP"]
    assert judged["probability_earned"].tolist() == [True, False]
    assert judged["ml_recommendation"].tolist() == ["SKIP", "BUY"]  # 2020: the probability steps aside, MEDIUM reads BUY
    assert judged["recommendation_basis"].iloc[1].startswith("probability suspended")


def test_trades_entering_on_the_same_day_count_once_in_the_interval():
    trades = record({2019: "ranks", 2020: "ranks", 2021: "ranks"})
    day = pd.Timestamp("2019-12-31")
    apart = component_standing(trades, [day]).iloc[0]
    # The same trades, those of each week entering on the same day: the same correlation, a wider interval.
    bunched = trades.assign(entry_date=trades["entry_date"].to_numpy().astype("datetime64[W]").astype("datetime64[ns]"))
    together = component_standing(bunched, [day]).iloc[0]
    assert together["probability_rho"] == apart["probability_rho"] and together["probability_low"] < apart["probability_low"]
    window = bunched[(bunched["exit_date"] > day - pd.Timedelta(days=365)) & (bunched["exit_date"] <= day)]
    weeks = window["entry_date"].nunique()
    assert weeks < apart["probability_signals"] == len(window)
    by_hand = np.tanh(np.arctanh(apart["probability_rho"]) - 1.959964 * np.sqrt(1.06 / (weeks - 3)))
    assert together["probability_low"] == pytest.approx(by_hand, abs=1e-6)
