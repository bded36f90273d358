"""The walk-forward replay on synthetic signals: the policy's cadence, nothing scored by a model that saw
its outcome, a planted edge learned over time, and the comparison of the expected-return designs."""

import numpy as np
import pandas as pd
import pytest

from emergent_pipeline.core.model_selection import SplitParams
from emergent_pipeline.core.replay import ReplayParams, compare_designs, retraining_points, walk_forward_replay

CALENDAR = pd.bdate_range("2014-01-01", periods=700)


def test_retraining_points_follow_the_policy_by_hand():
    """Ten outcomes resolve every trading day from day 0. With 200 to start, 100 new ones or 30 days:
    the first point is the day after the 200th exit (day 19 resolves outcomes 191-200: day 20), then
    every 10 trading days (100 new outcomes) comes before 30 calendar days."""
    exits = np.repeat(CALENDAR[:100].to_numpy(), 10)
    points = retraining_points(exits, CALENDAR, ReplayParams(min_labelled=200, min_new_outcomes=100, max_age_days=30))
    assert points[:3] == [CALENDAR[20], CALENDAR[30], CALENDAR[40]]
    # Once no outcome resolves any more (after day 99), the age rule takes over: 30 calendar days apart.
    late = [p for p in points if p > CALENDAR[110]]
    assert all((b - a).days in (30, 31, 32) for a, b in zip(late, late[1:]))
    assert retraining_points(exits[:150], CALENDAR, ReplayParams(min_labelled=200)) == []


def synthetic_signals(seed: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Six signals a day; success when x0 + noise > 0; each resolves 1 to 10 trading days later."""
    rng = np.random.default_rng(seed)
    days = np.repeat(np.arange(650), 6)
    n = len(days)
    X = pd.DataFrame(rng.normal(size=(n, 5)), columns=[f"x{i}" for i in range(5)])
    X["target_atr"], X["stop_atr"], X["atr_pct"] = 2.0, 1.0, 0.02
    y = (X["x0"] + rng.normal(scale=0.7, size=n) > 0).astype(float)
    exit_day = np.minimum(days + rng.integers(1, 11, n), len(CALENDAR) - 1)
    labels = pd.DataFrame({
        "date": CALENDAR[days], "exit_date": CALENDAR[exit_day], "label": y,
        "return_net": np.where(y == 1, 0.02, -0.015) + 0.01 * X["x1"], "validity_days": 10,
    })
    open_ = exit_day >= 640  # the newest ones have not resolved yet
    labels.loc[open_, ["exit_date", "label", "return_net"]] = [pd.NaT, np.nan, np.nan]
    return X, labels


@pytest.fixture(scope="module")
def replayed():
    X, labels = synthetic_signals()
    params = ReplayParams(min_labelled=300, min_new_outcomes=600, max_age_days=90, splits=SplitParams(folds=0))
    return X, labels, walk_forward_replay(X, labels, np.full(len(X), 0.5), CALENDAR, params)


def test_no_signal_is_scored_by_a_model_that_saw_its_outcome(replayed):
    X, labels, result = replayed
    scores = result.scores
    scored = scores[scores["ml_status"] == "scored"]
    assert len(scored) > 0.7 * len(scores)
    # Every model learned only labels that ended before the first signal it scores.
    assert (scored["model_label_end"] < labels.loc[scored.index, "date"]).all()
    assert (scored["issued_on"] == labels.loc[scored.index, "date"]).all()
    first_point = result.retrains["point"].min()
    assert (scores.loc[labels["date"] < first_point, "ml_status"] == "unscored").all()
    # Each retraining point's model scores exactly the signals up to the next point.
    served = result.retrains.dropna(subset=["serving"])
    for (_, row), nxt in zip(served.iterrows(), list(served["point"].iloc[1:]) + [pd.Timestamp.max]):
        window = scored[(labels.loc[scored.index, "date"] >= row["point"]) & (labels.loc[scored.index, "date"] < nxt)]
        assert set(window["model_id"]) <= {row["serving"]}


def test_the_replay_learns_the_planted_edge_and_issues_every_design(replayed):
    X, labels, result = replayed
    trades = pd.concat([labels, result.scores.drop(columns="issued_on")], axis=1)
    trades = trades[(trades["ml_status"] == "scored") & trades["label"].notna()].assign(entry_date=lambda t: t["date"])
    high, low = trades[trades["ml_probability"] > 0.6], trades[trades["ml_probability"] < 0.4]
    assert high["label"].mean() > 0.75 > 0.25 > low["label"].mean()
    assert (result.retrains["decision"] == "promoted").sum() >= 2
    designs = compare_designs(trades, CALENDAR)
    assert designs["design"].tolist() == ["payoff", "regression", "conditional"]
    for row in designs.itertuples():  # returns follow the label: every design recommends winners
        assert row.mean_return > trades["return_net"].mean() and row.vs_unfiltered_low > 0, row.design
        assert row.verdict.startswith("edge:")


def test_the_replay_trained_on_a_dask_cluster_issues_what_it_issues_in_process(replayed, monkeypatch):
    """The retraining points' trainings fan out on a real Dask cluster (a scheduler and two worker
    processes over TCP on 127.0.0.1): the same scores, to the bit, and the same retraining record."""
    from distributed import Client, get_task_stream

    from emergent_pipeline import engine
    from emergent_pipeline.dask_cluster import local_cluster

    X, labels, in_process = replayed
    params = ReplayParams(min_labelled=300, min_new_outcomes=600, max_age_days=90, splits=SplitParams(folds=0))
    with local_cluster(workers=2) as cluster, Client(cluster.address, set_as_default=False) as client, get_task_stream(client) as tasks:
        monkeypatch.setenv(engine.SCHEDULER, cluster.address)
        on_cluster = walk_forward_replay(X, labels, np.full(len(X), 0.5), CALENDAR, params, engine.ordered_map)
    trainings = pd.Series([t["worker"] for t in tasks.data if t["key"].startswith("trained_at")])
    assert len(trainings) == len(in_process.retrains) > 2 and trainings.nunique() == 2
    pd.testing.assert_frame_equal(on_cluster.scores, in_process.scores, check_exact=True)
    pd.testing.assert_frame_equal(on_cluster.retrains, in_process.retrains, check_exact=True)
