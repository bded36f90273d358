"""Monitoring on hand-made data: the distance of a signal's features from the training rows, the age
of a score's model, and whether the newest year of the record holds."""

import numpy as np
import pandas as pd
import pytest

from emergent_pipeline.core.earned_place import EarnParams
from emergent_pipeline.core.monitoring import forward_record_health, model_age_days
from emergent_pipeline.core.signal_model import FeatureProfile


def test_a_signal_far_from_every_training_row_is_out_of_distribution():
    rng = np.random.default_rng(2)
    train = pd.DataFrame({"a": rng.normal(0, 1, 2000), "b": rng.normal(5, 2, 2000), "sector": "Tech"})
    profile = FeatureProfile.fit(train)
    assert profile.columns == ["a", "b"]  # text columns have no distance
    own = profile.distance(train)
    assert np.mean(own > 1.0) == pytest.approx(0.01, abs=0.002)  # by construction: 1 % of the rows it learned from
    centre = pd.DataFrame({"a": [train["a"].median()], "b": [train["b"].median()], "sector": "Tech"})
    far = pd.DataFrame({"a": [12.0], "b": [5.0], "sector": "Tech"})
    half = pd.DataFrame({"a": [np.nan], "b": [train["b"].median()], "sector": "Tech"})  # a missing feature is left out
    assert profile.distance(centre)[0] == 0.0 and profile.distance(half)[0] == 0.0
    iqr = train["a"].quantile(0.75) - train["a"].quantile(0.25)
    by_hand = np.sqrt(((12.0 - train["a"].median()) / iqr) ** 2 / 2 + ((5.0 - train["b"].median()) / (train["b"].quantile(0.75) - train["b"].quantile(0.25))) ** 2 / 2)
    assert profile.distance(far)[0] == pytest.approx(by_hand / profile.limit) and profile.distance(far)[0] > 1.0


def test_the_age_of_a_scores_model():
    ages = model_age_days(pd.Timestamp("2018-02-07"), ["2017-11-09", None, "2018-02-07"])
    assert ages[0] == 90 and np.isnan(ages[1]) and ages[2] == 0


DAYS = pd.bdate_range("2019-01-01", "2019-12-31")


def record(offset=0.0, ranks=True, n=len(DAYS)):
    """One resolved signal a day: it made money with the probability issued (minus ``offset``), and
    its return rises with the probability when ``ranks``."""
    rng = np.random.default_rng(4)
    p = rng.uniform(0.2, 0.8, n)
    won = rng.uniform(0, 1, n) < np.clip(p - offset, 0, 1)
    size = np.where(ranks, 0.01 + 0.04 * p, 0.03)
    returns = np.where(won, size, -0.03)
    return pd.DataFrame({"entry_date": DAYS[:n] - pd.Timedelta(days=5), "exit_date": DAYS[:n], "return_net": returns,
                         "label": won.astype(float), "ml_probability": p, "expected_return": rng.normal(0, 0.01, n)})


def test_a_calibrated_record_that_ranks_holds_and_an_overconfident_one_does_not():
    day = DAYS[-1]
    good = forward_record_health(record(), day)
    assert good.judged and good.calibrated and good.ranks and good.holds
    # Probabilities 20 points above what happened: outside the success rate's interval and beyond 5 points.
    proud = forward_record_health(record(offset=0.2), day)
    assert proud.judged and not proud.calibrated and not proud.holds
    assert proud.mean_probability - proud.success_rate == pytest.approx(0.2, abs=0.05)
    assert "off by +" in proud.sentence(day)


def test_too_few_signals_are_not_judged():
    few = forward_record_health(record(n=50), DAYS[-1], EarnParams())
    assert not few.judged and few.holds and few.signals == 50
    assert few.sentence(DAYS[-1]).startswith("too few resolved signals")
