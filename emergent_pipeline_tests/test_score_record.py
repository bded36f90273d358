"""The record of a probability band on hand-made trades, every figure worked out by hand."""

import math

import numpy as np
import pandas as pd
import pytest

from emergent_pipeline.core.score_record import band_records, known_on, probability_band, record_sentence

DAYS = pd.bdate_range("2021-01-04", periods=40)


def trades(probabilities, returns, exits=None):
    n = len(probabilities)
    return pd.DataFrame({
        "symbol": [f"S{i}" for i in range(n)], "date": DAYS[:n], "entry_date": DAYS[1:n + 1],
        "exit_date": DAYS[5:n + 5] if exits is None else pd.to_datetime(exits),
        "ml_probability": probabilities, "return_net": returns, "label": (np.asarray(returns) > 0).astype(float),
    })


def wilson(wins, n, z=1.959963984540054):
    p = wins / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def test_bands_follow_the_recommendation_tiers_and_include_their_upper_edge():
    bands = probability_band([0.0, 0.3, 0.31, 0.45, 0.4501, 0.6, 0.75, 0.76, 1.0, np.nan]).astype(object).tolist()
    assert bands[:9] == ["0.00-0.30", "0.00-0.30", "0.30-0.45", "0.30-0.45", "0.45-0.60", "0.45-0.60", "0.60-0.75", "0.75-1.00", "0.75-1.00"]
    assert pd.isna(bands[9])


def test_a_bands_count_share_that_made_money_and_mean_return():
    table = band_records(trades([0.2, 0.25, 0.5, 0.55, 0.58, 0.8], [-0.01, 0.02, 0.01, -0.02, 0.03, 0.05]))
    assert table.index.tolist() == ["0.00-0.30", "0.45-0.60", "0.75-1.00"]  # bands without a trade are left out
    middle = table.loc["0.45-0.60"]
    assert middle["signals"] == 3
    assert middle["made_money_of_100"] == pytest.approx(200 / 3)  # 0.01 and 0.03 of 0.01, -0.02, 0.03
    low, high = wilson(2, 3)
    assert (middle["made_money_low"], middle["made_money_high"]) == pytest.approx((100 * low, 100 * high))
    assert middle["mean_return"] == pytest.approx(0.02 / 3)
    assert table.loc["0.00-0.30", "mean_return"] == pytest.approx(0.005)
    assert middle["first_signal"] == DAYS[2] and middle["last_exit"] == DAYS[9]


def test_the_mean_returns_interval_holds_the_mean_and_is_a_point_when_every_return_is_the_same():
    same = band_records(trades([0.5] * 20, [0.01] * 20)).loc["0.45-0.60"]
    assert same["mean_return_low"] == pytest.approx(0.01) and same["mean_return_high"] == pytest.approx(0.01)
    rng = np.random.default_rng(3)
    spread = band_records(trades([0.7] * 30, rng.normal(0.0, 0.02, 30))).loc["0.60-0.75"]
    assert spread["mean_return_low"] < spread["mean_return"] < spread["mean_return_high"]


def test_only_outcomes_known_by_the_day_count():
    record = trades([0.5, 0.5, 0.5], [0.01, -0.01, 0.02], exits=[DAYS[5], DAYS[6], DAYS[7]])
    record.loc[2, "label"] = np.nan  # a signal still open (or stale) has no label
    known = known_on(record, DAYS[6])
    assert known["symbol"].tolist() == ["S0", "S1"]
    assert known_on(record, DAYS[5])["symbol"].tolist() == ["S0"]  # S1 exits the next day
    assert known_on(record)["symbol"].tolist() == ["S0", "S1"]


def test_the_record_in_words():
    row = {"signals": 412, "made_money_of_100": 55.2, "made_money_low": 50.4, "made_money_high": 59.9,
           "mean_return": -0.001, "mean_return_low": -0.005, "mean_return_high": 0.003}
    assert record_sentence("0.60-0.75", row) == (
        "of 412 signals issued at 0.60-0.75, 55 % made money (50-60 %), mean -0.10 % per trade (-0.50 % to +0.30 %)")
