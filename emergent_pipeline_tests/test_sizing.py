"""Fractional Kelly sizes worked out by hand."""

import numpy as np
import pytest

from emergent_pipeline.core.sizing import SizingParams, kelly_size, payoff_ratio


def test_kelly_by_hand():
    # Target 110, stop 95 from 100: b = 10 / 5 = 2.
    assert payoff_ratio([100.0], [110.0], [95.0]).tolist() == [2.0]
    sizes = kelly_size([0.5, 0.6, 0.3, np.nan], [100.0] * 4, [110.0] * 4, [95.0] * 4)
    # p = 0.5: 0.5 - 0.5 / 2 = 0.25, a quarter of it 0.0625; p = 0.6: 0.4 -> 0.10 (at the cap);
    # p = 0.3: 0.3 - 0.7 / 2 < 0 -> no position; no probability -> no size.
    assert sizes[:3].tolist() == pytest.approx([0.0625, 0.10, 0.0]) and np.isnan(sizes[3])
    assert kelly_size([0.6], [100.0], [110.0], [95.0], SizingParams(kelly_fraction=0.5, max_position=1.0)).tolist() == pytest.approx([0.2])


def test_a_sell_signal_and_a_signal_without_risk():
    # SELL from 100 with target 90 and stop 104: b = 10 / 4 = 2.5; p = 0.5: 0.5 - 0.5 / 2.5 = 0.3 -> 0.075.
    assert kelly_size([0.5], [100.0], [90.0], [104.0]).tolist() == pytest.approx([0.075])
    assert np.isnan(kelly_size([0.7], [100.0], [110.0], [100.0])[0])
