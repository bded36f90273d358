from pathlib import Path

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
    assert (context["regime"].iloc[199:] == "BEAR").all()  # 18 % and more below its high, under SMA50


def test_a_dip_below_sma50_inside_an_uptrend_stays_bull():
    closes = 100 * 1.001 ** np.arange(260)
    closes[-1] = closes[-60]  # close falls under SMA50 (a 6 % dip) while above SMA200, SMA50 above SMA200
    context = compute_market_context(index_from(closes))
    last = context.iloc[-1]
    assert last["sma_50"] > last["sma_200"] and last["sma_200"] < last["close"] < last["sma_50"]
    assert last["regime"] == "BULL"  # hysteresis: an uptrend is not left on one dip


def test_a_crash_is_bear_on_the_first_close_10_pct_below_the_high():
    """An uptrend, then -2 % a day: BEAR on the first close 10 % below the 252-day high (day 6 of the
    fall), not weeks later when the averages cross; then it stays BEAR through a small rebound."""
    closes = np.r_[100 * 1.001 ** np.arange(300), 0.0 * np.arange(15), 0.0 * np.arange(5)]
    top = closes[299]
    closes[300:315] = top * 0.98 ** np.arange(1, 16)
    closes[315:320] = closes[314] * 1.01 ** np.arange(1, 6)  # +5 %: still 21 % under the high
    context = compute_market_context(index_from(closes))
    first = int(np.argmax(closes / np.maximum.accumulate(closes) - 1 <= -0.10))
    assert first == 305 and context["regime"].iloc[first - 1] != "BEAR"
    assert (context["regime"].iloc[first:] == "BEAR").all()
    assert context["drawdown"].iloc[first] == pytest.approx(closes[first] / top - 1)


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
    assert context["trend_strength"].iloc[-1] == "Strong Up"
    falling = compute_market_context(index_from(np.r_[np.full(30, 100.0), 100 * 0.99 ** np.arange(1, 31)]))
    assert falling["trend_strength"].iloc[-1] == "Strong Down"  # signed: -18 % over 20 days
    assert falling["trend_strength"].iloc[33] == "Moderate Down"  # -3 % over 20 days
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


LONG_INDEX = Path(__file__).resolve().parents[1] / "emergent_pipeline" / "data" / "sp500_index_1999_2018.csv"


@pytest.fixture(scope="module")
def since_1999() -> pd.DataFrame:
    index = pd.read_csv(LONG_INDEX, parse_dates=["date"])
    return compute_market_context(index).set_index("date")


@pytest.mark.parametrize("start, end", [("2000-01-01", "2002-12-31"), ("2008-01-01", "2008-12-31"),
                                        ("2011-01-01", "2011-12-31"), ("2015-01-01", "2016-12-31")])
def test_real_crashes_are_bear_within_10_days(since_1999, start, end):
    """The S&P 500 in 2000-02, 2008, 2011 and 2015-16: each time it first closes 10 % or more below
    its 252-day high (computed here from the closes), the regime reads BEAR within 10 trading days."""
    close = since_1999["close"]
    below = close / close.rolling(252, min_periods=1).max() - 1 <= -0.10
    firsts = below & ~below.shift(1, fill_value=False)
    days = firsts[start:end][firsts[start:end]].index
    assert len(days) > 0
    regime = since_1999["regime"]
    for day in days:
        position = regime.index.get_loc(day)
        assert (regime.iloc[position: position + 11] == "BEAR").any(), f"no BEAR within 10 days of {day:%Y-%m-%d}"


def test_calm_uptrends_are_bull_and_the_regime_does_not_flap(since_1999):
    regime = since_1999["regime"]
    for year in ("2013", "2017"):
        assert (regime[year] == "BULL").mean() > 0.8, year
    known = regime[regime != "UNKNOWN"]
    changes = (known != known.shift()).iloc[1:].sum()
    assert changes / (len(known) / 252) <= 12  # on average no more than 12 changes a year
    assert (regime["2008-10-01":"2008-12-31"] == "BEAR").all() and (regime["2002"] == "BEAR").mean() > 0.9


def test_the_2015_2016_correction_is_not_bull(bundled_db):
    context = read(bundled_db, "SELECT date, regime FROM market_context").set_index("date")["regime"]
    # The two legs of the decline: 2015-08-18 peak to the 2015-09-29 low, and 2016-01-04 to 2016-02-11.
    for start, end in [("2015-08-24", "2015-10-02"), ("2016-01-13", "2016-02-29")]:
        leg = context[start:end]
        assert not (leg == "BULL").any(), leg[leg == "BULL"]
        assert (leg == "BEAR").mean() > 0.5


def test_bundled_benchmark_is_the_sp500_index_since_1999():
    index = BundledSource().benchmark()
    assert index["date"].min() == pd.Timestamp("1999-01-04")
    assert index["date"].max() == pd.Timestamp("2018-02-07")
    on_2010 = index.set_index("date").loc["2010-01-04", "close"]
    assert 1000 < on_2010 < 1200  # the S&P 500 opened 2010 near 1,133
