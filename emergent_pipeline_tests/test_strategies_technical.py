"""The five technical strategies on small hand-built price series.

Each scenario is built so that the strategy's rule holds on one known day D (and nowhere else in the
series); a near-identical series breaks exactly one condition and must stay silent; a shortened
series puts D inside the warm-up of an indicator it needs (NaN) and must stay silent too.

The rule's conditions and the expected prices are recomputed here from the raw bars (TA-Lib called
directly, numpy windows, pivot levels by hand), never read back from the panel, so each test also
pins down which conditions hold on D and which single one is broken.
"""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest
import talib

from emergent_pipeline.core.strategies import breakout, mean_reversion, momentum, pivot_cpr, swing
from emergent_pipeline.core.strategies.base import SIGNAL_COLUMNS
from emergent_pipeline.core.strategy_panel import build_strategy_panel

BASE_VOLUME = 1_000_000.0


# --------------------------------------------------------------------------------------------------
# helpers


def make_prices(
    closes,
    *,
    spread: float = 0.5,
    volume=None,
    high=None,
    low=None,
    symbol: str = "AAA",
    start: str = "2021-01-04",
) -> pd.DataFrame:
    """A long prices frame on business days. High/low default to close ± ``spread`` (so the true
    range, hence ATR, stays predictable); volume defaults to a flat 1M."""
    closes = np.asarray(closes, dtype="float64")
    n = len(closes)
    return pd.DataFrame(
        {
            "symbol": symbol,
            "date": pd.bdate_range(start, periods=n),
            "open": np.r_[closes[0], closes[:-1]],
            "high": closes + spread if high is None else np.asarray(high, dtype="float64"),
            "low": closes - spread if low is None else np.asarray(low, dtype="float64"),
            "close": closes,
            "volume": np.full(n, BASE_VOLUME) if volume is None else np.asarray(volume, dtype="float64"),
        }
    )


def volume_spike(n: int, day: int, ratio: float) -> np.ndarray:
    """Flat 1M volume with ``ratio`` × 1M on ``day``: volume_ratio on that day is exactly ``ratio``."""
    volume = np.full(n, BASE_VOLUME)
    volume[day] = ratio * BASE_VOLUME
    return volume


def alternating(start: float, n: int, up: float, down: float) -> np.ndarray:
    """``n`` closes from ``start``: +up, -down, +up, ... (alternation keeps RSI well below 100)."""
    closes = [start]
    for i in range(1, n):
        closes.append(closes[-1] * (1.0 + (up if i % 2 else -down)))
    return np.array(closes)


def run(module, prices: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    panel = build_strategy_panel(prices)
    return module.generate(panel), panel


def col(prices: pd.DataFrame, name: str) -> np.ndarray:
    return prices[name].to_numpy(dtype="float64")


def window(values: np.ndarray, end: int, n: int) -> np.ndarray:
    """The ``n`` values ending at index ``end`` (inclusive); all NaN when there are fewer."""
    if end - n + 1 < 0:
        return np.full(n, np.nan)
    return values[end - n + 1 : end + 1]


def atr_14(prices: pd.DataFrame) -> np.ndarray:
    return talib.ATR(col(prices, "high"), col(prices, "low"), col(prices, "close"), timeperiod=14)


def rsi_14(prices: pd.DataFrame) -> np.ndarray:
    return talib.RSI(col(prices, "close"), timeperiod=14)


def volume_ratio(prices: pd.DataFrame, d: int) -> float:
    """D's volume over the mean volume of the 20 bars before D."""
    volume = col(prices, "volume")
    return volume[d] / window(volume, d - 1, 20).mean()


def failing(conditions: dict[str, bool]) -> list[str]:
    return [name for name, holds in conditions.items() if not holds]


def assert_single_signal(
    signals: pd.DataFrame, prices: pd.DataFrame, d: int, module, signal_type: str, validity_days: int, keys: list[str]
) -> tuple[pd.Series, dict]:
    """Exactly one signal in the whole series, on bar ``d``, entered at D's close; returns it and its
    parsed indicators."""
    assert list(signals.columns) == SIGNAL_COLUMNS
    assert len(signals) == 1, signals[["date", "signal_type"]]
    signal = signals.iloc[0]
    assert pd.Timestamp(signal["date"]) == prices["date"].iloc[d]
    assert signal["symbol"] == prices["symbol"].iloc[d]
    assert signal["strategy"] == module.NAME
    assert signal["signal_type"] == signal_type
    assert signal["entry_price"] == prices["close"].iloc[d]
    assert signal["validity_days"] == validity_days
    assert 0.0 < signal["confidence"] < 1.0
    assert isinstance(signal["reason"], str) and signal["reason"]
    indicators = dict(signal["indicators"])
    assert list(indicators) == keys
    return signal, indicators


# --------------------------------------------------------------------------------------------------
# momentum
#
# 40 flat bars (100 / 100.5 alternating), then 40 bars alternating +2 % / -1 %: every 20 bars gain
# (1.02 × 0.99)^10 - 1 = +10.2 %, RSI settles at ~64-68, the close is above SMA20 and SMA50.
# Volume is flat except on D = bar 70 (an up day): 1.6M, so volume_ratio = 1.6 there and ~0.97 after.

MOMENTUM_D = 70


def momentum_prices(up: float = 0.02, down: float = 0.01, ratio: float = 1.6, symbol: str = "AAA") -> pd.DataFrame:
    flat = 100.0 + 0.5 * (np.arange(40) % 2)
    closes = np.r_[flat, alternating(flat[-1], 41, up, down)[1:]]
    return make_prices(closes, volume=volume_spike(len(closes), MOMENTUM_D, ratio), symbol=symbol)


def momentum_conditions(prices: pd.DataFrame, d: int) -> dict[str, bool]:
    close = col(prices, "close")
    return {
        "return": close[d] / window(close, d - 20, 1)[0] - 1.0 >= 0.08,
        "volume": volume_ratio(prices, d) >= 1.2,
        "rsi": 40.0 <= rsi_14(prices)[d] <= 70.0,
        "above_sma20": close[d] > window(close, d, 20).mean(),
        "above_sma50": close[d] > window(close, d, 50).mean(),
    }


def test_momentum_fires_on_the_volume_day_of_a_steady_climb():
    prices = momentum_prices()
    signals, _ = run(momentum, prices)
    d = MOMENTUM_D
    signal, ind = assert_single_signal(
        signals, prices, d, momentum, "BUY", 10, ["ret_20", "volume_ratio", "rsi_14", "sma_20", "sma_50", "atr_14"]
    )
    assert failing(momentum_conditions(prices, d)) == []
    close = col(prices, "close")
    ret_20 = close[d] / close[d - 20] - 1.0
    assert ret_20 == pytest.approx((1.02 * 0.99) ** 10 - 1.0)  # +10.2 %
    atr, rsi = atr_14(prices)[d], rsi_14(prices)[d]
    assert signal["stop_loss"] == pytest.approx(close[d] - 2.0 * atr, rel=1e-9)
    assert signal["target_price"] == pytest.approx(close[d] + 4.0 * atr, rel=1e-9)
    expected = {"ret_20": ret_20, "volume_ratio": 1.6, "rsi_14": rsi, "sma_20": window(close, d, 20).mean(),
                "sma_50": window(close, d, 50).mean(), "atr_14": atr}
    assert ind == pytest.approx(expected, abs=1e-6)  # the JSON rounds to 6 decimals


@pytest.mark.parametrize(
    ("kwargs", "broken"),
    [
        ({"ratio": 1.0}, "volume"),  # volume_ratio 1.0 < 1.2
        ({"ratio": 1.19}, "volume"),  # just under the threshold
        ({"up": 0.03}, "rsi"),  # +3 % / -1 % days: RSI ~75.9 > 70 (return +21 %, still above the SMAs)
        ({"up": 0.015}, "return"),  # +1.5 % / -1 % days: 20-day return +5.0 % < 8 % (RSI ~61.5)
    ],
)
def test_momentum_silent_when_one_condition_fails(kwargs, broken):
    prices = momentum_prices(**kwargs)
    signals, _ = run(momentum, prices)
    assert failing(momentum_conditions(prices, MOMENTUM_D)) == [broken]
    assert signals.empty


def test_momentum_per_symbol_and_independent_of_row_order():
    # AAA fires on D; BBB is the same climb without the volume spike. Rows shuffled (fixed seed).
    prices = pd.concat([momentum_prices(symbol="AAA"), momentum_prices(ratio=1.0, symbol="BBB")], ignore_index=True)
    shuffled = prices.sample(frac=1.0, random_state=7).reset_index(drop=True)
    signals, _ = run(momentum, shuffled)
    assert signals["symbol"].tolist() == ["AAA"]
    assert pd.Timestamp(signals["date"].iloc[0]) == prices["date"].iloc[MOMENTUM_D]
    assert signals["entry_price"].iloc[0] == prices["close"].iloc[MOMENTUM_D]


def test_momentum_silent_while_sma50_is_warming_up():
    # The same series without its first 22 bars: D becomes bar 48, one bar before SMA50 exists.
    prices = momentum_prices().iloc[22:].reset_index(drop=True)
    d = MOMENTUM_D - 22
    signals, panel = run(momentum, prices)
    assert np.isnan(panel["sma_50"].iloc[d])
    assert failing(momentum_conditions(prices, d)) == ["above_sma50"]  # everything else still holds
    assert signals.empty


# --------------------------------------------------------------------------------------------------
# mean reversion
#
# 60 quiet bars alternating 100 / 100.5 (high/low = close ± 0.5, so ATR = 1.0), then a shock on
# D = bar 60, then a recovery. Shock to 95 (from 100.5): the 20-close mean is 100.0, the lower band
# 97.65 (population std), RSI 28.1, ATR 1.357, so middle - close = 5.0 >= 1.5 × 1.5 × 1.357 = 3.05.
# Shock to 105.5 mirrors it: upper band 102.86, RSI 72.8 -> SELL.

MR_D = 60
BUY_RECOVERY = [98.0, 100.0, 100.5]
SELL_RECOVERY = [102.0, 100.5, 100.0]


def mean_reversion_prices(shock: float, recovery, spread: float = 0.5, quiet_bars: int = MR_D) -> pd.DataFrame:
    quiet = 100.0 + 0.5 * (np.arange(quiet_bars) % 2)
    return make_prices(np.r_[quiet, shock, recovery], spread=spread)


def bollinger(prices: pd.DataFrame, d: int) -> tuple[float, float, float]:
    """Lower, middle, upper: mean of the last 20 closes ± 2 population std."""
    closes = window(col(prices, "close"), d, 20)
    middle, std = closes.mean(), closes.std(ddof=0)
    return middle - 2.0 * std, middle, middle + 2.0 * std


def mean_reversion_conditions(prices: pd.DataFrame, d: int, side: str) -> dict[str, bool]:
    close = col(prices, "close")[d]
    lower, middle, upper = bollinger(prices, d)
    rsi, risk = rsi_14(prices)[d], 1.5 * atr_14(prices)[d]
    if side == "BUY":
        return {"band": close <= lower, "rsi": rsi <= 30.0, "reward_risk": middle - close >= 1.5 * risk}
    return {"band": close >= upper, "rsi": rsi >= 70.0, "reward_risk": close - middle >= 1.5 * risk}


MR_KEYS = ["bb_lower", "bb_middle", "bb_upper", "rsi_14", "atr_14"]


def test_mean_reversion_buys_a_close_under_the_lower_band():
    prices = mean_reversion_prices(95.0, BUY_RECOVERY)
    signals, _ = run(mean_reversion, prices)
    d = MR_D
    signal, ind = assert_single_signal(signals, prices, d, mean_reversion, "BUY", 5, MR_KEYS)
    assert failing(mean_reversion_conditions(prices, d, "BUY")) == []
    close = col(prices, "close")
    lower, middle, upper = bollinger(prices, d)
    atr = atr_14(prices)[d]
    assert middle == pytest.approx(100.0)
    assert signal["target_price"] == pytest.approx(middle, rel=1e-9)
    assert signal["stop_loss"] == pytest.approx(close[d] - 1.5 * atr, rel=1e-9)
    expected = {"bb_lower": lower, "bb_middle": middle, "bb_upper": upper, "rsi_14": rsi_14(prices)[d], "atr_14": atr}
    assert ind == pytest.approx(expected, abs=1e-6)


def test_mean_reversion_sells_a_close_over_the_upper_band():
    prices = mean_reversion_prices(105.5, SELL_RECOVERY)
    signals, _ = run(mean_reversion, prices)
    d = MR_D
    signal, _ = assert_single_signal(signals, prices, d, mean_reversion, "SELL", 5, MR_KEYS)
    assert failing(mean_reversion_conditions(prices, d, "SELL")) == []
    close = col(prices, "close")
    _, middle, _ = bollinger(prices, d)
    atr = atr_14(prices)[d]
    assert signal["target_price"] == pytest.approx(middle, rel=1e-9)
    assert signal["stop_loss"] == pytest.approx(close[d] + 1.5 * atr, rel=1e-9)
    assert signal["target_price"] < signal["entry_price"] < signal["stop_loss"]


@pytest.mark.parametrize(
    ("shock", "recovery", "spread", "side", "broken"),
    [
        # Same closes (bands and RSI unchanged) but high/low = close ± 2: ATR 4.25, so
        # middle - close = 5.0 < 2.25 × 4.25 = 9.6.
        (95.0, BUY_RECOVERY, 2.0, "BUY", "reward_risk"),
        # Shock only to 97: still under the lower band (98.6), reward/risk ok (3.1 >= 2.73), RSI 33.7 > 30.
        (97.0, BUY_RECOVERY, 0.5, "BUY", "rsi"),
        (105.5, SELL_RECOVERY, 2.0, "SELL", "reward_risk"),
        # Spike only to 103.5: over the upper band (101.9), reward/risk ok (3.08 >= 2.65), RSI 67.1 < 70.
        (103.5, SELL_RECOVERY, 0.5, "SELL", "rsi"),
    ],
)
def test_mean_reversion_silent_when_one_condition_fails(shock, recovery, spread, side, broken):
    prices = mean_reversion_prices(shock, recovery, spread)
    signals, _ = run(mean_reversion, prices)
    assert failing(mean_reversion_conditions(prices, MR_D, side)) == [broken]
    assert signals.empty


def test_mean_reversion_silent_while_bollinger_is_warming_up():
    # Only 18 quiet bars: the shock lands on bar 18, where the 20-bar bands do not exist yet.
    # RSI (~21, deeply oversold) and ATR do.
    prices = mean_reversion_prices(95.0, BUY_RECOVERY, quiet_bars=18)
    signals, panel = run(mean_reversion, prices)
    row = panel.iloc[18]
    assert np.isnan(row["bb_lower"]) and np.isnan(row["bb_middle"])
    assert row["rsi_14"] <= 30.0 and row["atr_14"] > 0
    assert signals.empty


# --------------------------------------------------------------------------------------------------
# breakout
#
# 45 bars of closes alternating 100 / 103 (high/low = close ± 0.5): the 20 bars before D = bar 45
# span 99.5 .. 103.5, i.e. 4.0 % of the low, closes std/mean = 1.54 / 101.5 = 1.5 %. D closes at 106
# (>= 1.01 × 103.5 = 104.535) on 2× volume. Stop 99.5; target 106 + max(2 × 4, 2 × 6.5) = 119.
# After D the price creeps up by 0.5 a day (no new 1 % break, volume back to normal).

BO_D = 45
BO_KEYS = ["range_high_20_prev", "range_low_20_prev", "close_std_20_prev", "close_mean_20_prev", "volume_ratio"]


def breakout_prices(
    d_close: float = 106.0,
    ratio: float = 2.0,
    amplitude: float = 3.0,
    wick: float | None = None,
    bars_before: int = BO_D,
) -> pd.DataFrame:
    """Closes alternating 100 / 100 + amplitude, then D and two quiet bars; ``wick`` is an optional
    intraday high on bar D-5 (a spike that widens the range without moving any close)."""
    base = 100.0 + amplitude * (np.arange(bars_before) % 2)
    closes = np.r_[base, d_close, d_close + 0.5, d_close + 1.0]
    high = closes + 0.5
    if wick is not None:
        high[bars_before - 5] = wick
    return make_prices(closes, high=high, volume=volume_spike(len(closes), bars_before, ratio))


def previous_range(prices: pd.DataFrame, d: int) -> tuple[float, float, np.ndarray]:
    """High, low and closes of the 20 bars D-20 .. D-1."""
    high, low, close = (window(col(prices, name), d - 1, 20) for name in ("high", "low", "close"))
    return high.max(), low.min(), close


def breakout_conditions(prices: pd.DataFrame, d: int) -> dict[str, bool]:
    range_high, range_low, closes = previous_range(prices, d)
    return {
        "range": 0.03 <= (range_high - range_low) / range_low <= 0.15,
        "dispersion": closes.std(ddof=1) / closes.mean() <= 0.03,
        "break": col(prices, "close")[d] >= 1.01 * range_high,
        "volume": volume_ratio(prices, d) >= 1.5,
    }


def test_breakout_fires_when_d_closes_above_the_previous_20_bar_range():
    prices = breakout_prices()
    signals, _ = run(breakout, prices)
    d = BO_D
    signal, ind = assert_single_signal(signals, prices, d, breakout, "BUY", 10, BO_KEYS)
    assert failing(breakout_conditions(prices, d)) == []
    range_high, range_low, closes = previous_range(prices, d)
    assert (range_high, range_low) == (103.5, 99.5)
    entry = col(prices, "close")[d]
    assert signal["stop_loss"] == pytest.approx(range_low, rel=1e-9)
    expected_target = entry + max(2.0 * (range_high - range_low), 2.0 * (entry - range_low))
    assert signal["target_price"] == pytest.approx(expected_target, rel=1e-9)
    assert signal["target_price"] == pytest.approx(119.0, rel=1e-9)
    expected = {"range_high_20_prev": range_high, "range_low_20_prev": range_low,
                "close_std_20_prev": closes.std(ddof=1), "close_mean_20_prev": closes.mean(), "volume_ratio": 2.0}
    assert ind == pytest.approx(expected, abs=1e-6)


def test_breakout_range_must_end_the_day_before_d():
    # With D inside the window (the replaced system), the range high is at least D's own high >= D's
    # close, so "close >= 1.01 × range high" can never hold. The strategy must still fire on D.
    prices = breakout_prices()
    signals, panel = run(breakout, prices)
    d = BO_D
    high, close = col(prices, "high"), col(prices, "close")
    assert close[d] < 1.01 * window(high, d, 20).max()  # window including D: no breakout possible
    assert close[d] >= 1.01 * window(high, d - 1, 20).max()  # window ending at D-1: a 2.4 % breakout
    assert panel["range_high_20_prev"].iloc[d] == window(high, d - 1, 20).max()
    assert panel["high_20"].iloc[d] == window(high, d, 20).max()
    assert signals["date"].tolist() == [prices["date"].iloc[d]]


@pytest.mark.parametrize(
    ("kwargs", "broken"),
    [
        ({"ratio": 1.0}, "volume"),  # volume_ratio 1.0 < 1.5
        ({"d_close": 104.3}, "break"),  # 0.8 % above 103.5 < 1 %
        # Closes 100 / 107: range 99.5 .. 107.5 = 8 % (ok) but std/mean = 3.59 / 103.5 = 3.5 % > 3 %;
        # D closes at 110 >= 1.01 × 107.5.
        ({"amplitude": 7.0, "d_close": 110.0}, "dispersion"),
        # Closes 100 / 101.5: range 99.5 .. 102 = 2.5 % < 3 %; D closes at 104 >= 1.01 × 102.
        ({"amplitude": 1.5, "d_close": 104.0}, "range"),
        # A 118 wick on bar D-5 (closes unchanged, dispersion 1.5 %): range 99.5 .. 118 = 18.6 % > 15 %;
        # D closes at 120 >= 1.01 × 118.
        ({"wick": 118.0, "d_close": 120.0}, "range"),
    ],
)
def test_breakout_silent_when_one_condition_fails(kwargs, broken):
    prices = breakout_prices(**kwargs)
    signals, _ = run(breakout, prices)
    assert failing(breakout_conditions(prices, BO_D)) == [broken]
    assert signals.empty


def test_breakout_silent_during_the_20_bar_warm_up():
    # The same breakout after only 19 bars: no 20 previous bars for the range or the volume average.
    prices = breakout_prices(bars_before=19)
    signals, panel = run(breakout, prices)
    assert np.isnan(panel["range_high_20_prev"].iloc[19]) and np.isnan(panel["volume_ratio"].iloc[19])
    assert col(prices, "close")[19] >= 1.01 * col(prices, "high")[:19].max()  # it does clear the 19 bars
    assert signals.empty


# --------------------------------------------------------------------------------------------------
# swing
#
# 20 flat bars, 50 bars alternating +2 % / -1 % (uptrend; a rising zig-zag has no 5-bar fractal
# low), 5 pull-back days of -2.5 % (bars 70-74), then +2.5 %, +2.5 % (bars 75, 76) and +1 % × 3.
# Bar 74 has the lowest low of bars 72..76, its close sits at 3 % of its 20-day range, RSI 36.4.
# On D = bar 76 it is confirmed: SMA20 122.8 > SMA50 117.0, close 118.7 > SMA50.
# Stop 112.50 × 0.995; target 118.7 + 1.2 × (130.04 - 112.50) = 139.8; reward/risk 3.1.

SWING_D = 76
SWING_KEYS = ["sma_20", "sma_50", "high_20", "swing_low", "swing_range_position", "swing_rsi"]


def swing_closes(pull: float = -0.025, rebound: float = 0.025) -> np.ndarray:
    flat = 100.0 + 0.5 * (np.arange(20) % 2)
    closes = list(np.r_[flat, alternating(flat[-1], 51, 0.02, 0.01)[1:]])
    for move in [pull] * 5 + [rebound] * 2 + [0.01] * 3:
        closes.append(closes[-1] * (1.0 + move))
    return np.array(closes)


def swing_levels(prices: pd.DataFrame, d: int) -> dict[str, float]:
    high, low, close = col(prices, "high"), col(prices, "low"), col(prices, "close")
    s = d - 2  # the swing bar
    swing_low, high_20 = low[s], window(high, d, 20).max()
    s_high, s_low = window(high, s, 20).max(), window(low, s, 20).min()
    return {
        "sma_20": window(close, d, 20).mean(),
        "sma_50": window(close, d, 50).mean(),
        "high_20": high_20,
        "swing_low": swing_low,
        "swing_range_position": (close[s] - s_low) / (s_high - s_low),
        "swing_rsi": rsi_14(prices)[s],
        "stop": swing_low * 0.995,
        "target": close[d] + 1.2 * (high_20 - swing_low),
    }


def swing_conditions(prices: pd.DataFrame, d: int) -> dict[str, bool]:
    close = col(prices, "close")[d]
    lv = swing_levels(prices, d)
    return {
        "trend": lv["sma_20"] > lv["sma_50"],
        "above_sma50": close > lv["sma_50"],
        "fractal": lv["swing_low"] == window(col(prices, "low"), d, 5).min(),
        "range_position": lv["swing_range_position"] <= 0.40,
        "rsi": lv["swing_rsi"] <= 40.0,
        "below_close": lv["swing_low"] < close,
        "reward_risk": (lv["target"] - close) / (close - lv["stop"]) >= 1.5,
    }


def test_swing_buys_the_confirmed_pull_back_low():
    prices = make_prices(swing_closes())
    signals, _ = run(swing, prices)
    d = SWING_D
    signal, ind = assert_single_signal(signals, prices, d, swing, "BUY", 7, SWING_KEYS)
    assert failing(swing_conditions(prices, d)) == []
    lv = swing_levels(prices, d)
    assert signal["stop_loss"] == pytest.approx(lv["stop"], rel=1e-9)
    assert signal["target_price"] == pytest.approx(lv["target"], rel=1e-9)
    assert ind == pytest.approx({k: lv[k] for k in SWING_KEYS}, abs=1e-6)


def swing_broken_prices(broken: str) -> pd.DataFrame:
    if broken == "rsi":
        # Pull-back of -1.5 % a day: the low bar is still at 4 % of its range and reward/risk is 1.96,
        # but its RSI is 43.8 > 40.
        return make_prices(swing_closes(pull=-0.015))
    if broken == "reward_risk":
        # Rebound of +6 % twice: close 127.0 (still below the 20-day high 130.04), reward/risk 1.40 < 1.5.
        return make_prices(swing_closes(rebound=0.06))
    if broken == "fractal":
        # Same closes, but D's own low dips 0.5 under bar D-2's low: D-2 is no longer the 5-bar low.
        closes = swing_closes()
        low = closes - 0.5
        low[SWING_D] = low[SWING_D - 2] - 0.5
        return make_prices(closes, low=low)
    raise ValueError(broken)


@pytest.mark.parametrize("broken", ["rsi", "reward_risk", "fractal"])
def test_swing_silent_when_one_condition_fails(broken):
    prices = swing_broken_prices(broken)
    signals, _ = run(swing, prices)
    assert failing(swing_conditions(prices, SWING_D)) == [broken]
    assert signals.empty


def test_swing_silent_while_sma50_is_warming_up():
    # Drop the first 28 bars: D becomes bar 48, where SMA50 does not exist yet.
    prices = make_prices(swing_closes()[28:])
    d = SWING_D - 28
    signals, panel = run(swing, prices)
    assert np.isnan(panel["sma_50"].iloc[d])
    # Without SMA50 neither trend test can pass; the pull-back itself is all there.
    assert failing(swing_conditions(prices, d)) == ["trend", "above_sma50"]
    assert signals.empty


# --------------------------------------------------------------------------------------------------
# pivot / CPR
#
# 40 background bars: closes 100 / 100.5, high = close + 0.1, low = close - b with b ramping from
# 1.3 to 2.5, so their CPR width |2C - H - L| / 3 / P = (b - 0.1) / 3 / P ramps from 0.4 % to 0.8 %
# (a ramp, so that the median depends on which bars it spans: 0.71 % for bars 21..40).
# D = bar 40: H 101, L 100, C 100.8: P = 100.6, BC = 100.5, TC = 100.7, R1 = 101.2,
# width 0.2 / 100.6 = 0.2 % < median, close 100.8 > TC, volume 1.6×,
# reward/risk (101.2 - 100.8) / (100.8 - 100.5) = 1.33 >= 1.2.

PIVOT_D = 40
PIVOT_KEYS = ["pivot", "bc", "tc", "r1", "r2", "cpr_width", "cpr_width_median", "volume_ratio"]


def pivot_prices(
    d_close: float = 100.8, ratio: float = 1.6, above: float = 0.1, below=None, bars_before: int = PIVOT_D
) -> pd.DataFrame:
    """``below`` (scalar or one value per background bar) is how far each background low sits under
    its close; by default the ramp 1.3 .. 2.5."""
    background = 100.0 + 0.5 * (np.arange(bars_before) % 2)
    below = np.linspace(1.3, 2.5, bars_before) if below is None else np.broadcast_to(below, bars_before)
    after = np.array([100.6, 100.9])
    closes = np.r_[background, d_close, after]
    high = np.r_[background + above, 101.0, after + above]
    low = np.r_[background - below, 100.0, after - 1.9]
    return make_prices(closes, high=high, low=low, volume=volume_spike(len(closes), bars_before, ratio))


def cpr_widths(prices: pd.DataFrame) -> np.ndarray:
    """|TC - BC| / P of every bar; TC - BC = 2P - 2BC = (2C - H - L) / 3."""
    high, low, close = col(prices, "high"), col(prices, "low"), col(prices, "close")
    return np.abs(2.0 * close - high - low) / 3.0 / ((high + low + close) / 3.0)


def pivot_levels_by_hand(prices: pd.DataFrame, d: int) -> dict[str, float]:
    h, l, c = (col(prices, name)[d] for name in ("high", "low", "close"))
    p = (h + l + c) / 3.0
    bc = (h + l) / 2.0
    tc = 2.0 * p - bc
    return {"pivot": p, "bc": bc, "tc": tc, "r1": 2.0 * p - l, "r2": p + (h - l), "cpr_width": abs(tc - bc) / p,
            "cpr_width_median": np.median(window(cpr_widths(prices), d, 20)), "volume_ratio": volume_ratio(prices, d)}


def pivot_conditions(prices: pd.DataFrame, d: int) -> dict[str, bool]:
    close = col(prices, "close")[d]
    lv = pivot_levels_by_hand(prices, d)
    target = lv["r1"] if lv["r1"] > close else lv["r2"]
    return {
        "narrow": lv["cpr_width"] < lv["cpr_width_median"],
        "above_tc": close > lv["tc"],
        "volume": lv["volume_ratio"] >= 1.5,
        "reward_risk": target > close and (target - close) / (close - lv["bc"]) >= 1.2,
    }


def test_pivot_cpr_fires_on_a_narrow_cpr_day_closing_above_tc():
    prices = pivot_prices()
    signals, _ = run(pivot_cpr, prices)
    d = PIVOT_D
    signal, ind = assert_single_signal(signals, prices, d, pivot_cpr, "BUY", 3, PIVOT_KEYS)
    assert failing(pivot_conditions(prices, d)) == []
    lv = pivot_levels_by_hand(prices, d)
    assert (lv["pivot"], lv["bc"], lv["tc"], lv["r1"]) == pytest.approx((100.6, 100.5, 100.7, 101.2))
    assert lv["r1"] > signal["entry_price"]  # so the target is R1, not R2
    assert signal["target_price"] == pytest.approx(lv["r1"], rel=1e-9)
    assert signal["stop_loss"] == pytest.approx(lv["bc"], rel=1e-9)
    assert ind == pytest.approx(lv, abs=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "broken"),
    [
        ({"ratio": 1.0}, "volume"),  # volume_ratio 1.0 < 1.5
        # C = 100.95 near the high: R1 = 101.3, reward/risk 0.35 / 0.45 = 0.78 < 1.2 (width 0.3 %, still narrow).
        ({"d_close": 100.95}, "reward_risk"),
        # Background bars with high = close + 0.9, low = close - 1.1: their width is ~0.07 %, so D's
        # 0.2 % is above the 20-day median.
        ({"above": 0.9, "below": 1.1}, "narrow"),
    ],
)
def test_pivot_cpr_silent_when_one_condition_fails(kwargs, broken):
    prices = pivot_prices(**kwargs)
    signals, _ = run(pivot_cpr, prices)
    assert failing(pivot_conditions(prices, PIVOT_D)) == [broken]
    assert signals.empty


def test_pivot_cpr_median_width_includes_d():
    # Background lows at close - 1.9 (width 0.6 %), except bars D-10 .. D-1 at close - 0.4 (width 0.1 %).
    # Over D-19 .. D (D included): 10 × 0.1 %, D's 0.2 %, 9 × 0.6 % -> median (0.1 + 0.2) / 2 = 0.15 %,
    # so D is not narrow. Over D-20 .. D-1 (D left out) the median would be (0.1 + 0.6) / 2 = 0.35 %.
    below = np.full(PIVOT_D, 1.9)
    below[PIVOT_D - 10 :] = 0.4
    prices = pivot_prices(below=below)
    signals, _ = run(pivot_cpr, prices)
    d = PIVOT_D
    lv = pivot_levels_by_hand(prices, d)
    assert failing(pivot_conditions(prices, d)) == ["narrow"]
    assert lv["cpr_width_median"] == pytest.approx(0.0015, rel=0.01)
    assert lv["cpr_width"] < np.median(window(cpr_widths(prices), d - 1, 20))  # narrow against the 20 bars before D
    assert signals.empty


def test_pivot_cpr_silent_while_the_volume_average_is_warming_up():
    # D on bar 19: the 20-bar width median exists (bars 0..19) but not the 20 previous volumes.
    prices = pivot_prices(bars_before=19)
    signals, panel = run(pivot_cpr, prices)
    assert np.isnan(panel["volume_ratio"].iloc[19])
    assert failing(pivot_conditions(prices, 19)) == ["volume"]
    assert signals.empty


def test_pivot_cpr_silent_when_d_has_no_high():
    # Full history, but D's high is missing: the indicators treat the bar as flat (high = close),
    # the pivot levels must not; with no levels there is no signal.
    prices = pivot_prices()
    prices.loc[PIVOT_D, "high"] = np.nan
    signals, panel = run(pivot_cpr, prices)
    assert panel["volume_ratio"].iloc[PIVOT_D] == pytest.approx(1.6)
    assert signals.empty
