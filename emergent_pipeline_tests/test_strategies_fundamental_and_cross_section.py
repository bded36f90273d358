"""Hand-built scenarios for the fundamental and cross-sectional strategies: value,
fundamental_growth, multibagger, low_volatility and sector_rotation.

Every scenario is deterministic (business-day dates, closed-form or seeded price paths). Each
strategy has a scenario where it must fire on a day D known by construction, checked against the
spec formulas computed here from the raw prices (not from the panel's indicator columns), and
variants where exactly one condition is broken, where it must not fire on D.
"""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest

from emergent_pipeline.core.fundamentals import canonical, point_in_time, statements_from_snapshot
from emergent_pipeline.core.strategies import (
    fundamental_growth, low_volatility, multibagger, sector_rotation, value,
)
from emergent_pipeline.core.strategy_panel import build_strategy_panel

START = "2021-01-04"  # a Monday


# --------------------------------------------------------------------------- helpers


def business_days(n: int) -> pd.DatetimeIndex:
    return pd.bdate_range(START, periods=n)


def ohlcv(
    closes: dict[str, np.ndarray],
    dates: pd.DatetimeIndex,
    spread: float = 0.01,
    volumes: dict[str, np.ndarray] | None = None,
) -> pd.DataFrame:
    """Long price frame: open = close, high/low = close × (1 ± spread), volume 1e6 unless given."""
    frames = []
    for symbol, close in closes.items():
        close = np.asarray(close, dtype="float64")
        volume = np.asarray((volumes or {}).get(symbol, np.full(len(close), 1e6)), dtype="float64")
        frames.append(pd.DataFrame({
            "symbol": symbol, "date": dates, "open": close, "high": close * (1 + spread),
            "low": close * (1 - spread), "close": close, "volume": volume,
        }))
    return pd.concat(frames, ignore_index=True)


def wilder_atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, n: int = 14) -> np.ndarray:
    """Wilder ATR written out by hand: first value (bar n) is the mean true range of bars 1..n,
    then ATR_t = (13 × ATR_{t-1} + TR_t) / 14."""
    true_range = np.maximum(high[1:] - low[1:], np.maximum(abs(high[1:] - close[:-1]), abs(low[1:] - close[:-1])))
    atr = np.full(len(close), np.nan)
    atr[n] = true_range[:n].mean()
    for t in range(n + 1, len(close)):
        atr[t] = (atr[t - 1] * (n - 1) + true_range[t - 1]) / n
    return atr


def signal_on(signals: pd.DataFrame, symbol: str, day: pd.Timestamp) -> pd.DataFrame:
    return signals[(signals["symbol"] == symbol) & (signals["date"] == day)]


def assert_signal(signals, symbol, day, *, strategy, entry, target, stop, validity_days, signal_type="BUY") -> dict:
    """Exactly one signal for (symbol, day) with the given numbers; returns its parsed indicators."""
    rows = signal_on(signals, symbol, day)
    assert len(rows) == 1, f"expected one {strategy} signal for {symbol} on {day.date()}, got {len(rows)}"
    row = rows.iloc[0]
    assert row["strategy"] == strategy
    assert row["signal_type"] == signal_type
    assert row["entry_price"] == pytest.approx(entry, rel=1e-12)
    assert row["target_price"] == pytest.approx(target, rel=1e-9)
    assert row["stop_loss"] == pytest.approx(stop, rel=1e-9)
    assert row["validity_days"] == validity_days
    assert 0.0 < row["confidence"] < 1.0
    assert isinstance(row["reason"], str) and row["reason"]
    indicators = dict(row["indicators"])
    assert isinstance(indicators, dict) and indicators
    return indicators


def snapshots(frame: pd.DataFrame) -> pd.DataFrame:
    """Valuation snapshots (symbol, as_of, price, eps, price_book, ...) made point in time, as the
    ``fundamentals`` asset does: each usable from its as_of."""
    return point_in_time(statements_from_snapshot(frame))[0]


# --------------------------------------------------------------------------- value

VALUE_BARS = 260
VALUE_D = 230  # the snapshot day: first bar where fundamentals are known


def value_scenario(variant: str | None = None, as_of: pd.Timestamp | None = None):
    """Sector "Fin" = A, B, C; sector "Tech" = T alone.

    A rises linearly 80 -> 100 over 260 bars (high/low = close ± 1 %); B, C flat at 100; T flat at 50.
    One snapshot per symbol dated as_of (default bar 230), fundamentals price 100 (50 for T):
      A: EPS 10, P/B 1.5 -> book 66.67/share; at D close 97.76 -> P/E 9.78, P/B 1.47
      B: EPS 100/13 -> P/E 13;  C: EPS 4 -> P/E 25  => Fin median P/E on D = 13 (B), A is below it
      A's 200-bar low = 0.99 × close[31] = 81.57; 97.76 / 81.57 = 1.20 > 1.10
      target = min(1.5 × 97.76 = 146.6, fair value 10 × 13 = 130) = 130 (fair value binds)
    T alone in its sector: its P/E equals its sector median, so it never fires.
    """
    dates = business_days(VALUE_BARS)
    t = np.arange(VALUE_BARS)
    closes = {"A": 80 + 20 * t / (VALUE_BARS - 1), "B": np.full(VALUE_BARS, 100.0),
              "C": np.full(VALUE_BARS, 100.0), "T": np.full(VALUE_BARS, 50.0)}
    eps = {"A": 10.0, "B": 100 / 13, "C": 4.0, "T": 5.0}
    price_book = {"A": 1.5, "B": 1.5, "C": 1.5, "T": 1.0}
    if variant == "pb_above_2":  # P/B at D = 97.76 / (100 / 2.5) = 2.44 > 2
        price_book["A"] = 2.5
    elif variant == "pe_above_15":  # A P/E 97.76 / 6.25 = 15.6 > 15, still below the new median 20 (B)
        eps.update(A=6.25, B=5.0)
    elif variant == "pe_not_below_sector_median":  # B P/E 9 < A 9.78 < C 25: A is the median itself
        eps["B"] = 100 / 9
    elif variant == "close_near_200_bar_low":  # A flat at D's close: close / 200-bar low = 1 / 0.99 < 1.10
        closes["A"] = np.full(VALUE_BARS, closes["A"][VALUE_D])
    else:
        assert variant is None
    as_of = dates[VALUE_D] if as_of is None else as_of
    fundamentals = pd.DataFrame({
        "symbol": list(eps), "as_of": as_of, "price": [100.0, 100.0, 100.0, 50.0], "eps": list(eps.values()),
        "price_book": list(price_book.values()), "price_sales": 2.0, "market_cap": 1e9, "ebitda": 1e8,
    })
    universe = pd.DataFrame({"symbol": ["A", "B", "C", "T"], "sector": ["Fin", "Fin", "Fin", "Tech"]})
    benchmark = pd.DataFrame({"date": dates, "close": 1000.0 + t})
    prices = ohlcv(closes, dates)
    return dates, closes, build_strategy_panel(prices, universe, snapshots(fundamentals), benchmark)


def test_value_fires_on_cheap_symbol_of_its_sector():
    dates, closes, panel = value_scenario()
    day = dates[VALUE_D]
    entry = closes["A"][VALUE_D]
    pe = {"A": entry / 10.0, "B": 100 / (100 / 13), "C": 100 / 4.0}
    sector_pe = float(np.median(list(pe.values())))
    assert sector_pe == pytest.approx(13.0) and pe["A"] < sector_pe <= 15
    assert entry / (100 / 1.5) <= 2  # P/B at D
    low_200 = (0.99 * closes["A"][VALUE_D - 199: VALUE_D + 1]).min()
    assert entry > 1.10 * low_200

    signals = value.generate(panel)
    indicators = assert_signal(
        signals, "A", day, strategy="value", entry=entry,
        target=min(1.5 * entry, 10.0 * sector_pe), stop=0.85 * entry, validity_days=60,
    )
    assert indicators["sector_pe"] == pytest.approx(13.0, abs=2e-6)
    assert indicators["low_200"] == pytest.approx(low_200, abs=2e-6)
    assert indicators["pe_pit"] == pytest.approx(pe["A"], abs=2e-6)
    # B is the median (not below), C is above, T is alone in its sector.
    assert set(signals["symbol"]) == {"A"}


@pytest.mark.parametrize(
    "variant", ["pb_above_2", "pe_above_15", "pe_not_below_sector_median", "close_near_200_bar_low"]
)
def test_value_does_not_fire_when_one_rule_fails(variant):
    dates, _, panel = value_scenario(variant)
    assert signal_on(value.generate(panel), "A", dates[VALUE_D]).empty


def test_value_has_no_look_ahead_before_the_snapshot_date():
    """With the snapshot dated bar 205 the numbers already qualify there (A fires from bar 205), so
    when the same snapshot is dated on Saturday 2021-11-27, nothing may fire before it: the
    first signal is the Monday after (bar 235)."""
    dates, _, early = value_scenario(as_of=dates_at(205))
    early_signals = value.generate(early)
    assert early_signals["date"].min() == dates[205]
    assert (early_signals["date"] <= dates[VALUE_D]).sum() > 20  # these days qualify numerically

    saturday = dates[VALUE_D] + pd.offsets.Week(weekday=5)  # 2021-11-27, between bars 234 and 235
    assert saturday.weekday() == 5 and dates[234] < saturday < dates[235]
    _, _, late = value_scenario(as_of=saturday)
    signals = value.generate(late)
    assert not signals.empty
    assert (signals["date"] >= saturday).all()
    assert signals["date"].min() == dates[235]

    # No fundamentals at all: value cannot fire.
    _, closes, _ = value_scenario()
    prices = ohlcv(closes, dates)
    universe = pd.DataFrame({"symbol": list(closes), "sector": ["Fin", "Fin", "Fin", "Tech"]})
    assert value.generate(build_strategy_panel(prices, universe, None, None)).empty


def dates_at(bar: int) -> pd.Timestamp:
    return business_days(bar + 1)[bar]


# --------------------------------------------------------------------------- fundamental_growth

GROWTH_BARS = 420
FIRST_AVAILABLE = 70  # bar where the first annual statement becomes available (period end + 90 days)
SECOND_AVAILABLE = 331  # the next year's statement: period end twelve months later, available 90 days after it
GROWTH_D = 340


def growth_scenario(variant: str | None = None):
    """One symbol G, close 100 + 0.2 t (above its SMA50 from bar 49 on), high = close + 1 + 0.5 sin t,
    low = close - 1 - 0.3 cos t (so the ATR is not a constant).
    Two annual statements a year apart, usable from bars 70 and 331: EPS 5 then 6 (growth +20 %),
    equity 2.5e8 on 1e7 shares (ROE 20 % then 24 %), revenue 5e8 and EBITDA 1e8 (margin 20 %).
    The first has no statement a year before it: its growth is unknown, and unknown never passes."""
    dates = business_days(GROWTH_BARS)
    t = np.arange(GROWTH_BARS)
    close = 100 + 0.2 * t
    second_eps, equity, ebitda = 6.0, 2.5e8, 1e8
    if variant == "eps_growth_negative":  # 5 -> 4: growth -20 % (ROE 16 % still passes)
        second_eps = 4.0
    elif variant == "roe_below_15":  # equity 5e8: ROE 6e7 / 5e8 = 12 %
        equity = 5e8
    elif variant == "ebitda_margin_below_15":  # 5e7 / 5e8 = 10 %
        ebitda = 5e7
    elif variant == "close_below_sma50":  # from bar 321 the close falls 1 a bar: below its SMA50 at D
        close = np.where(t > 320, close[320] - (t - 320), close)
    else:
        assert variant is None
    high, low = close + 1 + 0.5 * np.sin(t), close - 1 - 0.3 * np.cos(t)
    prices = pd.DataFrame({"symbol": "G", "date": dates, "open": close, "high": high, "low": low,
                           "close": close, "volume": 1e6})
    first_end = dates[FIRST_AVAILABLE] - pd.Timedelta(days=90)
    statements = canonical(pd.DataFrame({
        "symbol": "G", "kind": "annual", "period_end": [first_end, first_end + pd.DateOffset(months=12)],
        "eps": [5.0, second_eps], "shares": 1e7, "net_income": [5e7, second_eps * 1e7], "total_equity": equity,
        "revenue": 5e8, "ebitda": ebitda,
    }))
    fundamentals, _ = point_in_time(statements)
    assert list(fundamentals["available_from"]) == [dates[FIRST_AVAILABLE], dates[SECOND_AVAILABLE]]
    panel = build_strategy_panel(prices, pd.DataFrame({"symbol": ["G"], "sector": ["Ind"]}), fundamentals, None)
    return dates, close, high, low, panel


def test_fundamental_growth_fires_after_growing_statement():
    dates, close, high, low, panel = growth_scenario()
    day, entry = dates[GROWTH_D], close[GROWTH_D]
    assert entry > close[GROWTH_D - 49: GROWTH_D + 1].mean()  # above SMA50
    atr = wilder_atr(high, low, close)[GROWTH_D]
    stop = entry - 3 * atr
    signals = fundamental_growth.generate(panel)
    indicators = assert_signal(
        signals, "G", day, strategy="fundamental_growth", entry=entry,
        target=entry + 2 * (entry - stop), stop=stop, validity_days=60,
    )
    assert indicators["eps_growth"] == pytest.approx(6 / 5 - 1, abs=2e-6)
    assert indicators["roe"] == pytest.approx(6e7 / 2.5e8, abs=2e-6)
    assert indicators["ebitda_margin"] == pytest.approx(1e8 / 5e8, abs=2e-6)
    assert indicators["atr_14"] == pytest.approx(atr, abs=2e-6)


def test_fundamental_growth_needs_known_growth():
    """Growth unknown (first statement, nothing a year before it): no signal, although every other
    rule holds; growth -20 % (EPS 5 -> 4): no signal either. Only a known positive growth fires."""
    dates, *_, panel = growth_scenario("eps_growth_negative")
    assert fundamental_growth.generate(panel).empty
    assert panel.loc[panel["date"] < dates[SECOND_AVAILABLE], "eps_growth"].isna().all()
    dates, *_, panel = growth_scenario()
    signals = fundamental_growth.generate(panel)
    assert signals["date"].min() == dates[SECOND_AVAILABLE]


@pytest.mark.parametrize("variant", ["eps_growth_negative", "roe_below_15", "ebitda_margin_below_15", "close_below_sma50"])
def test_fundamental_growth_does_not_fire_when_one_rule_fails(variant):
    dates, *_, panel = growth_scenario(variant)
    assert signal_on(fundamental_growth.generate(panel), "G", dates[GROWTH_D]).empty


def test_fundamental_growth_has_no_look_ahead():
    """Every rule holds from bar 331 on; nothing fires before the second statement is available."""
    dates, close, *_, panel = growth_scenario()
    signals = fundamental_growth.generate(panel)
    assert signals["date"].min() == dates[SECOND_AVAILABLE]
    assert len(signals) == GROWTH_BARS - SECOND_AVAILABLE


# --------------------------------------------------------------------------- multibagger

MB_BARS = 200
MB_D = 190


def multibagger_scenario(variant: str | None = None):
    """M: close 50 × 1.002^t up to bar 179, flat to bar 189, then on D = 190 a jump to
    close[179] × 1.01 × 1.07 (7 % above the 60-bar high ending 5 bars before D, which is the
    high of bars 179-185 = close[179] × 1.01), flat after. Volume 1e5, 3e5 on D (ratio 3).
    ret_126 ~ +36 %, ret_63 ~ +20 %. X (close ~ 110-120) and Y (~ 85-90) trade 1e6 shares a day,
    so M's 20-bar dollar volume (< 1e7, vs ~ 1e8) is the smallest: size percentile 1/3.
    60-bar low = 0.99 × close[131]; 0.8 × entry < 60-bar low, so the 60-bar low is the stop."""
    dates = business_days(MB_BARS)
    t = np.arange(MB_BARS)
    close = 50 * 1.002 ** np.minimum(t, 179)
    jump = 1.07
    volume = np.full(MB_BARS, 1e5)
    volume[MB_D] = 3e5
    fundamentals = None
    if variant == "biggest_symbol":  # ×1000 shares: largest dollar volume (size 1.0), same volume ratio
        volume = volume * 1000
    elif variant == "no_volume_surge":  # ratio 1.4 < 1.5
        volume[MB_D] = 1.4e5
    elif variant == "no_breakout":  # 1.04 × the lagged high < 1.05 ×
        jump = 1.04
    elif variant in ("negative_eps", "positive_eps"):  # market caps: M smallest, so size 1/3 by market cap
        fundamentals = pd.DataFrame({
            "symbol": ["M", "X", "Y"], "as_of": dates[100], "price": [60.0, 110.0, 85.0],
            "eps": [-1.0 if variant == "negative_eps" else 1.0, 5.0, 4.0], "price_book": 2.0,
            "price_sales": 2.0, "market_cap": [1e8, 1e10, 5e9], "ebitda": 1e7,
        })
    else:
        assert variant is None
    close[MB_D] = close[179] * 1.01 * jump
    close[MB_D + 1:] = close[MB_D]
    closes = {"M": close, "X": 100 + 0.1 * t, "Y": 80 + 0.05 * t}
    prices = ohlcv(closes, dates, volumes={"M": volume})
    return dates, closes, volume, build_strategy_panel(prices, None, None if fundamentals is None else snapshots(fundamentals), None)


def test_multibagger_fires_on_small_cap_breakout():
    dates, closes, volume, panel = multibagger_scenario()
    close, d = closes["M"], MB_D
    entry = close[d]
    dollar_volume = {s: (c[d - 19: d + 1] * (volume[d - 19: d + 1] if s == "M" else 1e6)).mean() for s, c in closes.items()}
    size_pct = pd.Series(dollar_volume).rank(pct=True)["M"]
    lagged_high = (1.01 * close[d - 64: d - 4]).max()
    low_60 = (0.99 * close[d - 59: d + 1]).min()
    assert size_pct == pytest.approx(1 / 3)
    assert entry / close[d - 126] - 1 >= 0.15 and entry / close[d - 63] - 1 > 0
    assert entry > 1.05 * lagged_high
    assert volume[d] / volume[d - 20: d].mean() >= 1.5
    assert low_60 > 0.8 * entry  # the max() picks the 60-bar low here

    signals = multibagger.generate(panel)
    indicators = assert_signal(
        signals, "M", dates[d], strategy="multibagger", entry=entry, target=2 * entry,
        stop=max(0.8 * entry, low_60), validity_days=120,
    )
    assert indicators["size_pct"] == pytest.approx(size_pct, abs=2e-6)
    assert indicators["high_60_lag5"] == pytest.approx(lagged_high, abs=2e-6)
    assert indicators["volume_ratio"] == pytest.approx(3.0, abs=2e-6)
    assert set(signals["symbol"]) == {"M"} and len(signals) == 1


@pytest.mark.parametrize("variant", ["biggest_symbol", "no_volume_surge", "no_breakout", "negative_eps"])
def test_multibagger_does_not_fire_when_one_rule_fails(variant):
    dates, _, _, panel = multibagger_scenario(variant)
    assert signal_on(multibagger.generate(panel), "M", dates[MB_D]).empty


def test_multibagger_with_fundamentals_uses_market_cap_size_and_positive_eps():
    dates, closes, _, panel = multibagger_scenario("positive_eps")
    entry = closes["M"][MB_D]
    signals = multibagger.generate(panel)
    assert_signal(signals, "M", dates[MB_D], strategy="multibagger", entry=entry, target=2 * entry,
                  stop=max(0.8 * entry, (0.99 * closes["M"][MB_D - 59: MB_D + 1]).min()), validity_days=120)
    row = signal_on(signals, "M", dates[MB_D]).iloc[0]
    assert dict(row["indicators"])["size_pct"] == pytest.approx(1 / 3, rel=1e-6)
    assert "market cap" in row["reason"]  # the size basis is named in the reason


# --------------------------------------------------------------------------- low_volatility

LV_BARS = 200
LV_D = 180


def low_volatility_scenario(variant: str | None = None):
    """L: daily returns 0.12 % + 0.4 % noise (seed 7): 60-bar vol ~ 5.8 %, max drawdown ~ -1.6 %,
    all six 20-bar blocks positive. Benchmark: 0.03 % + 1 % noise from the same generator,
    independent of L's, so beta ~ 0.
    "drawdown_20pct": bars D-49..D-30 fall 1.1 % a day, bars D-29..D-10 rise 1.25 % a day: a -20.8 %
    drawdown inside the last 60 bars, while vol (~ 16 %), blocks (4 of 6 positive) and beta still pass.
    "steady_rise": 0.3 % a day, no noise: the 60-bar range (lowest / highest close) is -16 %, beyond
    the 15 % limit, but the drawdown is zero."""
    dates = business_days(LV_BARS)
    rng = np.random.default_rng(7)
    stock_returns = 0.0012 + 0.004 * rng.standard_normal(LV_BARS)
    index_returns = 0.0003 + 0.010 * rng.standard_normal(LV_BARS)
    stock_returns[0] = index_returns[0] = 0.0
    if variant == "drawdown_20pct":
        stock_returns[LV_D - 49: LV_D - 29] = -0.011
        stock_returns[LV_D - 29: LV_D - 9] = 0.0125
    elif variant == "steady_rise":
        stock_returns[1:] = 0.003
    else:
        assert variant is None
    close = 100 * np.cumprod(1 + stock_returns)
    index_close = 3000 * np.cumprod(1 + index_returns)
    benchmark = pd.DataFrame({"date": dates, "open": np.nan, "high": np.nan, "low": np.nan,
                              "close": index_close, "volume": np.nan})
    panel = build_strategy_panel(ohlcv({"L": close}, dates), None, None, benchmark)
    return dates, close, index_close, panel


def low_volatility_measures(close: np.ndarray, index_close: np.ndarray, d: int) -> dict[str, float]:
    """The spec's four measures at bar d, by hand."""
    returns = close[1:] / close[:-1] - 1  # returns[i] is bar i+1's return
    index_returns = index_close[1:] / index_close[:-1] - 1
    stock_60, index_60 = returns[d - 60: d], index_returns[d - 60: d]
    window = close[d - 59: d + 1]
    blocks = [close[d - 20 * k] / close[d - 20 * k - 20] - 1 for k in range(6)]
    return {
        "vol_60": stock_60.std(ddof=1) * np.sqrt(252),
        "drawdown": (window / np.maximum.accumulate(window) - 1).min(),
        "positive_blocks": np.mean(np.array(blocks) > 0),
        "beta": np.cov(stock_60, index_60)[0, 1] / index_60.var(ddof=1),
        "sigma_20": returns[d - 20: d].std(ddof=1) * np.sqrt(20),
    }


def test_low_volatility_fires_on_calm_rising_stock():
    dates, close, index_close, panel = low_volatility_scenario()
    m = low_volatility_measures(close, index_close, LV_D)
    assert m["vol_60"] <= 0.25 and m["drawdown"] >= -0.15 and m["positive_blocks"] > 0.6 and m["beta"] <= 0.9
    entry = close[LV_D]
    signals = low_volatility.generate(panel)
    indicators = assert_signal(
        signals, "L", dates[LV_D], strategy="low_volatility", entry=entry, target=entry * 1.08,
        stop=entry * (1 - min(1.5 * m["sigma_20"], 0.12)), validity_days=60,
    )
    assert indicators["vol_60"] == pytest.approx(m["vol_60"], abs=2e-6)
    assert indicators["beta_60"] == pytest.approx(m["beta"], abs=2e-6)
    assert indicators["positive_blocks"] == pytest.approx(m["positive_blocks"], abs=2e-6)


def test_low_volatility_does_not_fire_after_a_20pct_drawdown():
    dates, close, index_close, panel = low_volatility_scenario("drawdown_20pct")
    m = low_volatility_measures(close, index_close, LV_D)
    assert m["drawdown"] < -0.20  # the one broken rule ...
    assert m["vol_60"] <= 0.25 and m["positive_blocks"] > 0.6 and m["beta"] <= 0.9  # ... the others hold
    assert signal_on(low_volatility.generate(panel), "L", dates[LV_D]).empty


def test_low_volatility_judges_the_drawdown_not_the_range():
    """Steady +0.3 %/day: lowest/highest close of the window = 1.003^-59 - 1 = -16 %, but nothing
    ever fell, so it fires (the strategy scans the window for these rows)."""
    dates, close, index_close, panel = low_volatility_scenario("steady_rise")
    m = low_volatility_measures(close, index_close, LV_D)
    assert close[LV_D - 59: LV_D + 1].min() / close[LV_D - 59: LV_D + 1].max() - 1 < -0.15
    assert m["drawdown"] == pytest.approx(0.0, abs=1e-12)
    entry = close[LV_D]
    indicators = assert_signal(
        low_volatility.generate(panel), "L", dates[LV_D], strategy="low_volatility", entry=entry,
        target=entry * 1.08, stop=entry * (1 - min(1.5 * m["sigma_20"], 0.12)), validity_days=60,
    )
    assert indicators["max_drawdown_60"] == pytest.approx(0.0, abs=2e-6)


# --------------------------------------------------------------------------- sector_rotation

SR_BARS = 160
SR_D = 150
MEMBER_SCALE = [0.6, 0.8, 1.0, 1.2, 1.4]  # member i of each sector: its log-drift × this


def sector_rotation_scenario(variant: str | None = None):
    """Four sectors of five members; member i's log price = MEMBER_SCALE[i] × the sector path f(t):
      Alpha (A0..A4): f = 1.2e-5 t², convex: leading and accelerating (at D: 60-bar return ~ +19 %,
                      acceleration ~ +3.4 points, breadth 1)
      Beta  (B0..B4): f = 0.002 t - 4e-6 t²  (rising, decelerating)
      Gamma (G0..G4): f = 0.001 t - 2e-6 t²  (rising slowly, decelerating)
      Delta (D0..D4): f = -(0.002 t + 2e-6 t²) (falling: the worst sector, breadth 0)
    Within Alpha, A3 and A4 beat the sector's mean 30-bar return, A0..A2 do not.
    "alpha_decelerating": Alpha f = 0.004 t - 1.2e-5 t²: still the top-ranked sector with a
    positive 60-bar return on D, but its acceleration is negative.
    "alpha_four_members": A0 removed, so Alpha is below the 5-member minimum."""
    dates = business_days(SR_BARS)
    t = np.arange(SR_BARS, dtype="float64")
    paths = {
        "Alpha": 0.004 * t - 1.2e-5 * t**2 if variant == "alpha_decelerating" else 1.2e-5 * t**2,
        "Beta": 0.002 * t - 4e-6 * t**2,
        "Gamma": 0.001 * t - 2e-6 * t**2,
        "Delta": -(0.002 * t + 2e-6 * t**2),
    }
    closes, sectors = {}, {}
    for sector, path in paths.items():
        for i, scale in enumerate(MEMBER_SCALE):
            closes[f"{sector[0]}{i}"] = 100 * np.exp(scale * path)
            sectors[f"{sector[0]}{i}"] = sector
    if variant == "alpha_four_members":
        del closes["A0"], sectors["A0"]
    else:
        assert variant in (None, "alpha_decelerating")
    universe = pd.DataFrame({"symbol": list(sectors), "sector": list(sectors.values())})
    panel = build_strategy_panel(ohlcv(closes, dates), universe, None, None)
    return dates, closes, sectors, panel


def sector_stats(closes: dict, sectors: dict, d: int) -> pd.DataFrame:
    """By hand at bar d: per sector, mean 60- and 30-bar returns, acceleration (60-bar mean return
    now minus 20 bars ago), breadth (share above SMA50), and the composite rank (1 = best)."""
    rows = []
    for sector in dict.fromkeys(sectors.values()):
        members = [closes[s] for s in sectors if sectors[s] == sector]
        ret_60 = lambda b: np.mean([c[b] / c[b - 60] - 1 for c in members])  # noqa: E731
        rows.append({
            "sector": sector, "ret_60": ret_60(d), "ret_30": np.mean([c[d] / c[d - 30] - 1 for c in members]),
            "acceleration": ret_60(d) - ret_60(d - 20),
            "breadth": np.mean([c[d] > c[d - 49: d + 1].mean() for c in members]),
        })
    stats = pd.DataFrame(rows).set_index("sector")
    stats["rank"] = stats[["ret_60", "acceleration", "breadth"]].rank(ascending=False).sum(axis=1).rank(method="first")
    return stats


def test_sector_rotation_fires_for_leader_of_leading_sector():
    dates, closes, sectors, panel = sector_rotation_scenario()
    stats = sector_stats(closes, sectors, SR_D)
    alpha = stats.loc["Alpha"]
    assert alpha["rank"] == 1 and alpha["ret_60"] > 0 and alpha["acceleration"] > 0
    assert stats.loc["Delta", "rank"] == 4 and stats.loc["Delta", "ret_60"] < 0
    assert alpha["ret_60"] / 2 > 0.08  # half the sector return sets the target here

    close = closes["A4"]
    entry = close[SR_D]
    assert entry / close[SR_D - 30] - 1 > alpha["ret_30"]
    atr = wilder_atr(close * 1.01, close * 0.99, close)[SR_D]
    signals = sector_rotation.generate(panel)
    indicators = assert_signal(
        signals, "A4", dates[SR_D], strategy="sector_rotation", entry=entry,
        target=entry * (1 + max(alpha["ret_60"] / 2, 0.08)), stop=entry - 2.5 * atr, validity_days=20,
    )
    # The rule's own sector numbers (indicators) agree with the hand computation.
    assert indicators["rank"] == 1
    assert indicators["sector_ret_60"] == pytest.approx(alpha["ret_60"], abs=2e-6)
    assert indicators["acceleration"] == pytest.approx(alpha["acceleration"], abs=2e-6)
    assert indicators["breadth"] == pytest.approx(1.0, abs=2e-6)
    assert indicators["sector_ret_30"] == pytest.approx(alpha["ret_30"], abs=2e-6)

    on_day = signals[signals["date"] == dates[SR_D]]
    # The laggard A0 trails its sector's 30-bar return: no signal; nothing in the falling Delta.
    assert closes["A0"][SR_D] / closes["A0"][SR_D - 30] - 1 < alpha["ret_30"]
    assert "A0" not in set(on_day["symbol"])
    assert not on_day["symbol"].str.startswith("D").any()
    assert set(on_day["symbol"]) == {"A3", "A4"}
    # Delta never fires on any day.
    assert not signals["symbol"].str.startswith("D").any()


@pytest.mark.parametrize("variant", ["alpha_decelerating", "alpha_four_members"])
def test_sector_rotation_does_not_fire_when_one_rule_fails(variant):
    dates, closes, sectors, panel = sector_rotation_scenario(variant)
    if variant == "alpha_decelerating":
        alpha = sector_stats(closes, sectors, SR_D).loc["Alpha"]
        assert alpha["rank"] <= 3 and alpha["ret_60"] > 0 and alpha["acceleration"] < 0
        assert closes["A4"][SR_D] / closes["A4"][SR_D - 30] - 1 > alpha["ret_30"]
    signals = sector_rotation.generate(panel)
    assert signal_on(signals, "A4", dates[SR_D]).empty
    assert not signals["symbol"].str.startswith("A").any()
