"""Purge and embargo: no training label window reaches into a test block."""

import numpy as np
import pandas as pd
import pytest

from emergent_pipeline.core.model_selection import SplitParams, walk_forward_splits
from emergent_pipeline.core.outcomes import follow_signals

from emergent_pipeline_tests.bundled_inputs import bundled


def assert_purged_and_embargoed(splits, dates, label_end, calendar, embargo):
    dates, label_end = pd.Series(pd.to_datetime(dates).to_numpy()), pd.Series(pd.to_datetime(label_end).to_numpy())
    assert [s.name for s in splits][-1] == "holdout"
    for split in splits:
        test_start = dates.iloc[split.test].min()
        trained = np.r_[split.fit, split.calibrate]
        assert len(split.fit) and len(split.calibrate) and len(split.test)
        # Purge: every training label was known before the test block starts.
        assert label_end.iloc[trained].max() < test_start, split.name
        # Embargo: at least `embargo` trading days between the newest training date and the test.
        gap = calendar.searchsorted(test_start) - calendar.searchsorted(dates.iloc[trained].max())
        assert gap > embargo, (split.name, gap)
        # The calibration slice is later than the fitting part, and purged from it the same way.
        assert label_end.iloc[split.fit].max() < dates.iloc[split.calibrate].min(), split.name
        assert not set(trained) & set(split.test)


def test_synthetic_signals_with_a_ten_day_horizon():
    calendar = pd.bdate_range("2019-01-01", periods=600)
    rng = np.random.default_rng(0)
    positions = np.sort(rng.integers(0, 580, 3000))
    dates = pd.Series(calendar[positions])
    exit_after = rng.integers(1, 11, len(positions))  # barriers hit within the 10-bar horizon
    label_end = pd.Series(calendar[np.minimum(positions + exit_after, 599)])
    splits = walk_forward_splits(dates, label_end, pd.Series(np.full(len(dates), 10)), calendar, SplitParams(folds=4))
    assert len(splits) == 5
    assert_purged_and_embargoed(splits, dates, label_end, calendar, embargo=10)
    holdout = splits[-1]
    assert dates.iloc[holdout.test].min() >= dates.quantile(0.75)  # the most recent fifth of the days


def test_bundled_consensus_labels_are_split_without_overlap(bundled_db):
    from emergent_pipeline_tests.conftest import read

    consensus = read(bundled_db, "SELECT symbol, date, signal_type, target_price, stop_loss, validity_days FROM consensus_signals")
    prices = bundled()[0]
    outcomes = follow_signals(prices, consensus)
    labelled = outcomes["label"].notna().to_numpy()
    calendar = pd.DatetimeIndex(np.sort(prices["date"].unique()))
    dates = consensus.loc[labelled, "date"].reset_index(drop=True)
    label_end = outcomes.loc[labelled, "exit_date"].reset_index(drop=True)
    horizon = consensus.loc[labelled, "validity_days"].reset_index(drop=True)
    splits = walk_forward_splits(dates, label_end, horizon, calendar)
    assert_purged_and_embargoed(splits, dates, label_end, calendar, embargo=int(horizon.max()))


def test_an_explicit_embargo_is_honoured():
    calendar = pd.bdate_range("2019-01-01", periods=400)
    dates = pd.Series(calendar[np.arange(0, 390)])
    label_end = pd.Series(calendar[np.arange(1, 391)])
    splits = walk_forward_splits(dates, label_end, pd.Series(np.ones(len(dates))), calendar, SplitParams(folds=2, embargo_bars=30))
    assert_purged_and_embargoed(splits, dates, label_end, calendar, embargo=30)
    with pytest.raises(AssertionError):
        assert_purged_and_embargoed(splits, dates, label_end, calendar, embargo=40)
