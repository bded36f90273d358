"""Daily IC, Rank IC, ICIR and quantile groups on hand-made trades, checked against numpy and scipy."""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from emergent_pipeline.core.signal_analysis import daily_ic, ic_summary, quantile_groups

DAYS = pd.bdate_range("2022-03-01", periods=30)


def trades(per_day=6, seed=5):
    rng = np.random.default_rng(seed)
    n = per_day * len(DAYS)
    date = np.repeat(DAYS, per_day)
    probability = rng.uniform(0.2, 0.8, n)
    return pd.DataFrame({"symbol": [f"S{i % per_day}" for i in range(n)], "date": date, "entry_date": date + pd.Timedelta(days=1),
                         "exit_date": date + pd.Timedelta(days=20), "ml_probability": probability,
                         "expected_return": rng.normal(0, 0.01, n), "return_net": 0.02 * probability + rng.normal(0, 0.02, n)})


def test_each_days_ic_and_rank_ic_are_that_days_correlations():
    frame = trades()
    daily = daily_ic(frame, "ml_probability")
    assert len(daily) == len(DAYS) and (daily["signals"] == 6).all()
    for day in DAYS[[0, 7, 29]]:
        one = frame[frame["date"] == day]
        assert daily.loc[day, "ic"] == pytest.approx(np.corrcoef(one["ml_probability"], one["return_net"])[0, 1])
        assert daily.loc[day, "rank_ic"] == pytest.approx(spearmanr(one["ml_probability"], one["return_net"]).statistic)


def test_days_with_too_few_signals_are_left_out():
    frame = trades()
    thin = frame[~((frame["date"] == DAYS[3]) & (frame["symbol"].isin(["S0", "S1"])))]  # 4 signals left that day
    assert DAYS[3] not in daily_ic(thin, "ml_probability").index and len(daily_ic(thin, "ml_probability")) == len(DAYS) - 1


def test_the_summary_is_the_mean_and_std_of_the_daily_figures():
    daily = daily_ic(trades(), "ml_probability")
    summary = ic_summary(daily)
    assert summary["days"] == len(DAYS)
    assert summary["ic_mean"] == pytest.approx(daily["ic"].mean()) and summary["ic_std"] == pytest.approx(daily["ic"].std(ddof=1))
    assert summary["icir"] == pytest.approx(daily["ic"].mean() / daily["ic"].std(ddof=1))
    assert summary["rank_ic_low"] < summary["rank_ic_mean"] < summary["rank_ic_high"]
    assert summary["ic_mean"] > 0  # the returns were made to rise with the probability


def test_quantile_groups_split_the_signals_by_score():
    frame = trades()
    groups = quantile_groups(frame, "ml_probability")
    assert groups.index.tolist() == [1, 2, 3, 4, 5] and (groups["signals"] == len(frame) // 5).all()
    lowest = frame.nsmallest(len(frame) // 5, "ml_probability")
    assert groups.loc[1, "mean_return"] == pytest.approx(lowest["return_net"].mean())
    assert groups.loc[1, "score_high"] == pytest.approx(lowest["ml_probability"].max())
    assert groups.loc[1, "score_high"] < groups.loc[2, "score_low"]
