"""The triple-barrier rule on hand-made price paths; every figure computed by hand."""

import numpy as np
import pandas as pd
import pytest

from emergent_pipeline.core.costs import TradingCosts
from emergent_pipeline.core.outcomes import OutcomeParams, follow_signals

DAYS = pd.bdate_range("2021-03-01", periods=8)
COST = 0.002  # 10 bps per side, round trip


def path(bars):
    """bars: (open, high, low, close) for each day; day 0 is the signal day D."""
    o, h, l, c = np.array(bars, dtype=float).T
    return pd.DataFrame({"symbol": "AAA", "date": DAYS[: len(bars)], "open": o, "high": h, "low": l, "close": c, "volume": 1e6})


def buy(target=110.0, stop=95.0, validity=3, kind="BUY"):
    return pd.DataFrame([{"symbol": "AAA", "date": DAYS[0], "signal_type": kind, "target_price": target, "stop_loss": stop, "validity_days": validity}])


FLAT = (100, 101, 99, 100)


def test_target_first():
    prices = path([FLAT, (100, 104, 98, 103), (103, 111, 102, 108), (108, 109, 90, 91), FLAT])
    row = follow_signals(prices, buy()).iloc[0]
    assert row["outcome"] == "target" and row["label"] == 1
    assert row["entry_fill"] == 100 and row["exit_price"] == 110 and row["exit_date"] == DAYS[2]
    assert row["return_net"] == pytest.approx(110 / 100 - 1 - COST)
    assert row["bars_held"] == 2
    assert row["mfe"] == pytest.approx(0.11) and row["mae"] == pytest.approx(-0.02)  # up to the exit bar only


def test_stop_first():
    prices = path([FLAT, (100, 101, 94, 96), (96, 120, 95, 119), FLAT, FLAT])
    row = follow_signals(prices, buy()).iloc[0]
    assert row["outcome"] == "stop" and row["label"] == 0 and row["exit_price"] == 95 and row["exit_date"] == DAYS[1]
    assert row["return_net"] == pytest.approx(-0.05 - COST)


def test_a_bar_touching_both_counts_as_the_stop():
    prices = path([FLAT, (100, 112, 94, 105), FLAT, FLAT, FLAT])
    row = follow_signals(prices, buy()).iloc[0]
    assert row["outcome"] == "stop" and row["label"] == 0 and row["exit_price"] == 95


def test_a_gap_through_the_stop_fills_at_the_open():
    prices = path([FLAT, (90, 92, 88, 91), FLAT, FLAT, FLAT])
    row = follow_signals(prices, buy()).iloc[0]
    assert row["outcome"] == "stop" and row["exit_price"] == 90  # worse than the stop: the market opened there


def test_timeout_with_a_gain_beating_costs_is_a_success():
    prices = path([FLAT, (100, 102, 99, 101), (101, 103, 100, 102), (102, 104, 101, 103), (103, 120, 80, 100)])
    row = follow_signals(prices, buy(validity=3)).iloc[0]
    assert row["outcome"] == "timeout" and row["exit_date"] == DAYS[3] and row["exit_price"] == 103
    assert row["return_net"] == pytest.approx(0.03 - COST) and row["label"] == 1
    assert row["horizon_end"] == DAYS[3]


def test_timeout_with_a_gain_below_costs_is_a_failure():
    prices = path([FLAT, (100, 101, 99, 100.1), (100.1, 101, 99, 100.15), (100, 101, 99, 100.1), FLAT])
    row = follow_signals(prices, buy(validity=3)).iloc[0]
    assert row["outcome"] == "timeout" and 0 < row["exit_price"] / row["entry_fill"] - 1 < COST
    assert row["label"] == 0


def test_timeout_with_a_loss():
    prices = path([FLAT, (100, 101, 97, 98), (98, 99, 96, 97), (97, 98, 96, 97), FLAT])
    row = follow_signals(prices, buy(validity=3)).iloc[0]
    assert row["outcome"] == "timeout" and row["return_net"] == pytest.approx(-0.03 - COST) and row["label"] == 0


def test_a_signal_whose_horizon_has_not_ended_is_open_and_unlabelled():
    prices = path([FLAT, (100, 104, 98, 103), (103, 105, 101, 104)])  # two bars after D, horizon 3
    row = follow_signals(prices, buy(validity=3)).iloc[0]
    assert row["outcome"] == "open" and np.isnan(row["label"]) and pd.isna(row["exit_date"])
    assert pd.isna(row["horizon_end"]) and row["bars_held"] == 2
    # ... but one that already reached its target is resolved, horizon or not.
    prices = path([FLAT, (100, 111, 98, 109)])
    assert follow_signals(prices, buy(validity=3)).iloc[0]["outcome"] == "target"


def test_sell_mirrors_buy():
    prices = path([FLAT, (100, 101, 89, 90), FLAT, FLAT, FLAT])
    row = follow_signals(prices, buy(target=90, stop=105, kind="SELL")).iloc[0]
    assert row["outcome"] == "target" and row["exit_price"] == 90
    assert row["return_net"] == pytest.approx(0.10 - COST) and row["mfe"] == pytest.approx(0.11)


def test_costs_are_a_parameter():
    prices = path([FLAT, (100, 111, 98, 109), FLAT, FLAT])
    row = follow_signals(prices, buy(), OutcomeParams(costs=TradingCosts(0))).iloc[0]
    assert row["return_net"] == pytest.approx(0.10)


def test_the_next_symbol_is_never_read_as_the_future():
    other = path([(10, 10, 10, 10)] * 5).assign(symbol="ZZZ")
    prices = pd.concat([path([FLAT, (100, 101, 99, 100)]), other])
    row = follow_signals(prices, buy(validity=3)).iloc[0]
    assert row["outcome"] == "open"  # ZZZ's bars (all at 10, under the stop) must not stop AAA out


def test_a_target_reached_through_a_gap_at_a_loss_is_a_failure():
    """One meaning of success: the net return at the exit. A near target (101) is 'hit' on the first
    bar because the entry day opens at 101.2, above it: the trade exits where it entered, loses its
    costs, and is a failure, although the target came first."""
    prices = path([FLAT, (101.2, 101.5, 100.5, 101), FLAT, FLAT, FLAT])
    row = follow_signals(prices, buy(target=101.0)).iloc[0]
    assert row["outcome"] == "target" and row["entry_fill"] == 101.2 and row["exit_price"] == 101.2
    assert row["return_net"] == pytest.approx(-COST) and row["label"] == 0


def test_a_symbol_that_stopped_trading_leaves_its_signal_stale_not_live():
    """AAA's bars end on day 2 while another symbol trades on to day 9 (more than 5 of the panel's days
    later): its unresolved signal is stale, unlabelled, and was live until the day after its last bar."""
    days = pd.bdate_range("2021-03-01", periods=10)
    aaa = pd.DataFrame({"symbol": "AAA", "date": days[:3], "open": 100.0, "high": 101.0, "low": 99.0, "close": 100.0, "volume": 1e6})
    other = pd.DataFrame({"symbol": "BBB", "date": days, "open": 50.0, "high": 51.0, "low": 49.0, "close": 50.0, "volume": 1e6})
    signal = buy(validity=5).assign(date=days[0])
    row = follow_signals(pd.concat([aaa, other]), signal).iloc[0]
    assert row["outcome"] == "stale" and np.isnan(row["label"]) and pd.isna(row["exit_date"])
    assert row["live_until"] == days[2] + pd.Timedelta(days=1)
    # Four of the panel's days behind is not yet stale: still open.
    row = follow_signals(pd.concat([aaa, other[other["date"] <= days[6]]]), signal).iloc[0]
    assert row["outcome"] == "open" and pd.isna(row["live_until"])


def test_a_path_across_an_unexplained_jump_is_suspect_not_a_label():
    """An unadjusted 1:3 bonus halfway (the bar closes at 3/4 of the day before, so −25 %, then on):
    under 40 % it stays a stop-out, as the check would have said; an unadjusted 1:1 bonus (−50 %) on
    the path makes the signal suspect: no label, no return, so neither the model nor the record learns it."""
    bonus = path([FLAT, FLAT, (75, 76, 74, 75), (75, 76, 74, 75), FLAT])
    assert follow_signals(bonus, buy()).iloc[0]["outcome"] == "stop"
    halved = path([FLAT, FLAT, (50, 51, 49, 50), (50, 51, 49, 50), FLAT])
    row = follow_signals(halved, buy()).iloc[0]
    assert row["outcome"] == "suspect" and np.isnan(row["label"]) and np.isnan(row["return_net"])
    assert row["exit_date"] == DAYS[2]  # where the path went, kept for the record
    after = path([FLAT, FLAT, FLAT, FLAT, (50, 51, 49, 50)])  # the jump comes after the exit (timeout on day 3)
    assert follow_signals(after, buy()).iloc[0]["outcome"] == "timeout"
    assert follow_signals(halved, buy(), OutcomeParams(suspect_move=0.6)).iloc[0]["outcome"] == "stop"
