import pandas as pd
import pytest

from emergent_pipeline.core.benchmark import equal_weight_index


def test_equal_weight_index_averages_daily_returns_of_the_members_trading():
    prices = pd.DataFrame(
        {
            "symbol": ["A", "A", "A", "B", "B"],
            "date": pd.to_datetime(["2020-01-02", "2020-01-03", "2020-01-06", "2020-01-03", "2020-01-06"]),
            "close": [100.0, 110.0, 99.0, 50.0, 60.0],
        }
    )
    index = equal_weight_index(prices)
    # Day 2: only A has a return (+10 %); B lists that day. Day 3: A -10 %, B +20 % -> mean +5 %.
    assert index["close"].tolist() == pytest.approx([100.0, 110.0, 110.0 * 1.05])
    assert index["open"].isna().all()
