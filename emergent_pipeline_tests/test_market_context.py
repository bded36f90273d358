import numpy as np
import pandas as pd
import pytest

from emergent_pipeline.core.market_context import MarketContextParams, compute_market_context
from emergent_pipeline.sources.bundled import BundledSource

from emergent_pipeline_tests.conftest import read


def index_from(closes) -> pd.DataFrame:
    closes = np.asarray(closes, dtype=float)
    return pd.DataFrame({"date": pd.bdate_range("2020-01-01", periods=len(closes)), "close": closes})


def test_rising_series_is_bull_after_200_bars_and_unknown_before():
    context = compute_market_context(index_from(100 * 1.001 ** np.arange(260)))
    assert (context["regime"].iloc[:199] == "UNKNOWN").all()
    assert (context["regime"].iloc[199:] == "BULL").all()
    assert context["above_sma_200"].iloc[:199].isna().all()  # unknown, not False
    assert context["above_sma_200"].iloc[199:].all()


def test_falling_series_is_bear():
    context = compute_market_context(index_from(100 * 0.999 ** np.arange(260)))
    assert (context["regime"].iloc[199:] == "BEAR").all()


def test_a_dip_below_sma50_inside_an_uptrend_is_sideways():
    closes = 100 * 1.001 ** np.arange(260)
    closes[-1] = closes[-60]  # close falls under SMA50 while SMA50 stays above SMA200
    context = compute_market_context(index_from(closes))
    last = context.iloc[-1]
    assert last["sma_50"] > last["sma_200"] and last["close"] < last["sma_50"]
    assert last["regime"] == "SIDEWAYS"


def test_volatility_trend_and_smas_match_hand_computation():
    rng = np.random.default_rng(7)
    closes = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 260)))
    context = compute_market_context(index_from(closes))
    k = 240
    returns = closes[1:] / closes[:-1] - 1  # returns[i] is the return into bar i + 1
    assert context["volatility"].iloc[k] == pytest.approx(np.std(returns[k - 20 : k], ddof=1) * np.sqrt(252), rel=1e-10)
    assert context["trend_20d"].iloc[k] == pytest.approx(closes[k] / closes[k - 20] - 1, rel=1e-12)
    assert context["sma_50"].iloc[k] == pytest.approx(closes[k - 49 : k + 1].mean(), abs=1e-8)
    assert context["sma_200"].iloc[k] == pytest.approx(closes[k - 199 : k + 1].mean(), abs=1e-8)


def test_interpretation_levels():
    params = MarketContextParams()
    closes = np.r_[np.full(30, 100.0), 100 * 1.03 ** np.arange(1, 31)]  # calm, then +3 % a day
    context = compute_market_context(index_from(closes), params)
    assert context["volatility_level"].iloc[25] == "Low"
    assert context["trend_strength"].iloc[-1] == "Strong"
    assert pd.isna(context["trend_strength"].iloc[0])  # no 20-bar history yet: unknown, not "Weak"
    assert pd.isna(context["volatility_level"].iloc[0])
    swings = compute_market_context(index_from(100 * np.cumprod(np.r_[1.0, np.tile([1.03, 0.97], 20)])))
    assert swings["volatility_level"].iloc[-1] == "High"  # ±3 % a day is about 48 % a year


def test_no_look_ahead_truncating_after_d_changes_nothing_up_to_d():
    rng = np.random.default_rng(11)
    full = index_from(100 * np.exp(np.cumsum(rng.normal(0, 0.01, 300))))
    complete = compute_market_context(full)
    cut = compute_market_context(full.iloc[:250])
    pd.testing.assert_frame_equal(complete.iloc[:250].reset_index(drop=True), cut)


def test_bundled_index_regimes_are_plausible(bundled_db):
    shares = read(
        bundled_db,
        "SELECT regime, count(*) / sum(count(*)) OVER () AS share FROM market_context "
        "WHERE date >= '2013-02-08' GROUP BY regime",
    ).set_index("regime")["share"]
    # 2013-2018 was a long bull market with one real correction (Aug 2015 - Feb 2016) and short
    # pull-backs: BULL should dominate without being everything, and BEAR must appear but be rare.
    assert set(shares.index) == {"BULL", "SIDEWAYS", "BEAR"}  # >= 200 bars of 2010-2012 history first
    assert 0.50 <= shares["BULL"] <= 0.85
    assert 0.10 <= shares["SIDEWAYS"] <= 0.40
    assert 0.02 <= shares["BEAR"] <= 0.20


def test_the_2015_2016_correction_is_not_bull(bundled_db):
    context = read(bundled_db, "SELECT date, regime FROM market_context").set_index("date")["regime"]
    # The two legs of the decline: 2015-08-18 peak to the 2015-09-29 low, and 2016-01-04 to 2016-02-11.
    for start, end in [("2015-08-24", "2015-10-02"), ("2016-01-04", "2016-02-29")]:
        leg = context[start:end]
        assert not (leg == "BULL").any(), leg[leg == "BULL"]
        assert (leg == "BEAR").mean() > 0.5
    whole = context["2015-08-20":"2016-03-31"]
    assert (whole == "BULL").mean() < 0.05  # a couple of December rally days at most


def test_bundled_benchmark_is_the_sp500_index():
    index = BundledSource().benchmark()
    assert index["date"].min() == pd.Timestamp("2010-01-04")
    assert index["date"].max() == pd.Timestamp("2018-02-07")
    assert 1000 < index["close"].iloc[0] < 1200  # the S&P 500 opened 2010 near 1,133
