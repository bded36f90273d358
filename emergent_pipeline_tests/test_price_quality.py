import pandas as pd

from emergent_pipeline.core import price_quality


def panel():
    return pd.DataFrame(
        {
            "symbol": ["A", "A", "A", "B", "B", "B"],
            "date": pd.to_datetime(["2020-01-02", "2020-01-03", "2020-01-06"] * 2),
            "open": [10, 10, 5.0, 20, 25, None],
            "high": [11, 11, 6.0, 21, 24, 22],
            "low": [9, 9, 4.0, 19, 19, 18],
            "close": [10, 10.5, 5.5, 20, 20, 21],
            "volume": [1, 1, 1, 1, 1, 1],
        }
    )


def test_ohlc_inconsistencies_name_the_problem():
    found = price_quality.ohlc_inconsistencies(panel())
    assert found[["symbol", "problem"]].values.tolist() == [
        ["B", "open outside [low, high]"],
        ["B", "missing open/high/low"],
    ]


def test_extreme_moves_are_per_symbol_close_to_close():
    found = price_quality.extreme_moves(panel(), threshold=0.40)
    # A: 10.5 -> 5.5 is -47.6 %; B's first bar must not be compared with A's last one.
    assert found["symbol"].tolist() == ["A"]
    assert round(found["move"].item(), 4) == round(5.5 / 10.5 - 1, 4)
    assert price_quality.extreme_moves(panel(), threshold=0.50).empty


def test_duplicates_and_non_positive_prices_are_found():
    prices = panel()
    assert price_quality.duplicate_keys(prices).empty
    doubled = pd.concat([prices, prices.iloc[[0]]])
    assert len(price_quality.duplicate_keys(doubled)) == 2
    prices.loc[4, "low"] = 0.0
    assert price_quality.non_positive_prices(prices).index.tolist() == [4]


def test_stale_symbols_count_business_days():
    prices = panel()
    prices = prices[~((prices["symbol"] == "B") & (prices["date"] > "2020-01-02"))]
    found = price_quality.stale_symbols(prices, pd.Timestamp("2020-01-06"), max_lag_business_days=1)
    # B's last bar is Thursday 2020-01-02: Friday and Monday make it 2 business days behind.
    assert found.to_dict("records") == [
        {"symbol": "B", "last_date": pd.Timestamp("2020-01-02"), "business_days_behind": 2}
    ]
