"""The indicator panel against TA-Lib called directly, and the hand-written measures against numpy."""

import numpy as np
import pandas as pd
import pytest
import talib

from emergent_pipeline.core.indicators import compute_indicators, sorted_panel

from emergent_pipeline_tests.bundled_inputs import bundled

SYMBOLS = ["AAPL", "XOM", "FTV", "DHR"]  # FTV lists late (2016); DHR has a bar with only a close


@pytest.fixture(scope="module")
def sample():
    prices, _, _, benchmark = bundled()
    subset = prices[prices["symbol"].isin(SYMBOLS)].sample(frac=1.0, random_state=3)  # order must not matter
    return compute_indicators(subset, benchmark), prices[prices["symbol"].isin(SYMBOLS)], benchmark


def one(panel, symbol):
    return panel[panel["symbol"] == symbol].reset_index(drop=True)


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_indicators_agree_with_talib(sample, symbol):
    panel, prices, _ = sample
    rows = one(panel, symbol)
    raw = prices[prices["symbol"] == symbol].sort_values("date")
    close = raw["close"].to_numpy()
    high = raw["high"].fillna(raw["close"]).to_numpy()
    low = raw["low"].fillna(raw["close"]).to_numpy()
    upper, middle, lower = talib.BBANDS(close, 20, 2.0, 2.0)
    expected = {
        "rsi_14": talib.RSI(close, 14), "atr_14": talib.ATR(high, low, close, 14),
        "sma_20": talib.SMA(close, 20), "sma_50": talib.SMA(close, 50), "sma_200": talib.SMA(close, 200),
        "bb_upper": upper, "bb_middle": middle, "bb_lower": lower, "high_20": talib.MAX(high, 20),
        "low_60": talib.MIN(low, 60), "low_200": talib.MIN(low, 200),
    }
    for column, values in expected.items():
        np.testing.assert_allclose(rows[column].to_numpy(), values, atol=1e-8, rtol=0, equal_nan=True, err_msg=column)


def test_volume_ratio_uses_the_20_previous_bars(sample):
    panel, _, _ = sample
    rows = one(panel, "AAPL")
    previous_mean = rows["volume"].shift(1).rolling(20).mean()
    np.testing.assert_allclose(rows["volume_ratio"], rows["volume"] / previous_mean, rtol=1e-10, equal_nan=True)


def test_returns_volatility_and_previous_range(sample):
    panel, _, _ = sample
    rows = one(panel, "XOM")
    close = rows["close"]
    daily = close.pct_change()
    np.testing.assert_allclose(rows["ret_20"], close / close.shift(20) - 1, rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(rows["vol_60"].iloc[100:], (daily.rolling(60).std() * np.sqrt(252)).iloc[100:], rtol=1e-6)
    np.testing.assert_allclose(rows["sigma_20"].iloc[100:], (daily.rolling(20).std() * np.sqrt(20)).iloc[100:], rtol=1e-6)
    # The consolidation window of breakout ends the day before D.
    np.testing.assert_allclose(rows["range_high_20_prev"], rows["high"].rolling(20).max().shift(1), equal_nan=True)
    np.testing.assert_allclose(rows["high_60_lag5"], rows["high"].rolling(60).max().shift(5), equal_nan=True)


def test_beta_matches_a_least_squares_fit(sample):
    panel, _, benchmark = sample
    rows = one(panel, "AAPL")
    index = benchmark.set_index("date")["close"].pct_change()
    stock = rows.set_index("date")["close"].pct_change()
    day = 700
    window = slice(day - 59, day + 1)
    x = index.reindex(rows["date"]).to_numpy()[window]
    y = stock.to_numpy()[window]
    slope = np.polyfit(x, y, 1)[0]
    assert rows["beta_60"].iloc[day] == pytest.approx(slope, rel=1e-8)


def test_first_bars_are_missing_not_zero(sample):
    panel, _, _ = sample
    rows = one(panel, "FTV")  # listed 2016-07-01: its own history starts there
    assert rows["sma_200"].iloc[:199].isna().all() and rows["sma_200"].iloc[199:].notna().all()
    assert rows["volume_ratio"].iloc[:20].isna().all()


def test_sorted_panel_numbers_each_symbols_bars():
    prices = pd.DataFrame(
        {"symbol": ["B", "A", "B", "A"], "date": pd.to_datetime(["2020-01-03", "2020-01-03", "2020-01-02", "2020-01-02"]),
         "open": 1.0, "high": 1.0, "low": 1.0, "close": [4.0, 2.0, 3.0, 1.0], "volume": 1.0}
    )
    panel = sorted_panel(prices)
    assert panel["symbol"].astype(str).tolist() == ["A", "A", "B", "B"]
    assert panel["close"].tolist() == [1.0, 2.0, 3.0, 4.0]
    assert panel["bar"].tolist() == [0, 1, 0, 1]
    assert panel["day"].tolist() == [0, 1, 0, 1]  # 2020-01-02 is the panel's first trading day
    # Rows already in (symbol, date) order (as every stored table is read) give the same panel.
    pd.testing.assert_frame_equal(sorted_panel(prices.iloc[[3, 1, 2, 0]].reset_index(drop=True)), panel)


def test_volume_ratio_against_no_known_volume_is_missing_not_infinite():
    n = 30
    close = 100 + np.arange(n, dtype=float)
    volume = np.r_[np.full(n - 1, np.nan), 1e6]  # no volume known before the last bar
    prices = pd.DataFrame({"symbol": "AAA", "date": pd.bdate_range("2021-01-04", periods=n), "open": close,
                           "high": close + 0.5, "low": close - 0.5, "close": close, "volume": volume})
    ratio = compute_indicators(prices)["volume_ratio"]
    assert ratio.isna().all()
    volume[:-1] = 2e6
    volume[10] = np.nan  # a missing volume is left out of the average, not counted as zero
    prices["volume"] = volume
    assert compute_indicators(prices)["volume_ratio"].iloc[-1] == pytest.approx(0.5)
