"""The one cost setting: its arithmetic by hand, and a table that records no cost, or two, is an error."""

import pandas as pd
import pytest

from emergent_pipeline.core.costs import CostsUnknownError, TradingCosts, recorded_costs


def test_costs_by_hand():
    costs = TradingCosts(12.5)
    assert costs.per_side == pytest.approx(0.00125) and costs.round_trip == pytest.approx(0.0025)
    for wrong in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="finite, non-negative"):
            TradingCosts(wrong)


def test_downstream_reads_the_costs_its_labels_record_and_nothing_else():
    assert recorded_costs(pd.DataFrame({"cost_bps_per_side": [5.0, 5.0, None]})) == TradingCosts(5.0)
    with pytest.raises(CostsUnknownError, match="signal_labels records no trading costs"):
        recorded_costs(pd.DataFrame({"cost_bps_per_side": [None]}))
    with pytest.raises(CostsUnknownError, match="no trading costs"):
        recorded_costs(pd.DataFrame({"label": [1]}))
    with pytest.raises(CostsUnknownError, match=r"different costs \(5, 10 bps per side\)"):
        recorded_costs(pd.DataFrame({"cost_bps_per_side": [10.0, 5.0]}))
