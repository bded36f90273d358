"""Consensus on hand-made cases, every expected figure computed by hand in the comments."""

import numpy as np
import pandas as pd
import pytest

from emergent_pipeline.core.consensus import ConsensusParams, compute_consensus, row_nanmedian

DAYS = pd.bdate_range("2020-01-06", periods=10)


def prices(closes=None, symbol="AAA"):
    closes = np.full(len(DAYS), 100.0) if closes is None else np.asarray(closes, dtype=float)
    return pd.DataFrame({"symbol": symbol, "date": DAYS, "open": closes, "high": closes, "low": closes, "close": closes, "volume": 1e6})


def signal(strategy, day, kind="BUY", confidence=0.6, target=110.0, stop=95.0, validity=10, symbol="AAA"):
    return {
        "symbol": symbol, "date": DAYS[day], "strategy": strategy, "signal_type": kind, "confidence": confidence,
        "entry_price": 100.0, "target_price": target, "stop_loss": stop, "validity_days": validity,
        "reason": f"{strategy} fired", "indicators": "{}",
    }


def consensus(rows, closes=None, **params):
    return compute_consensus(prices(closes), pd.DataFrame(rows), ConsensusParams(**params))


def test_two_strategies_make_no_consensus():
    result = consensus([signal("momentum", 5), signal("breakout", 5)])
    assert result.signals.empty and result.qualifying_days == 0


def test_three_of_four_agreeing():
    result = consensus(
        [
            signal("momentum", 5, confidence=0.8, target=110, stop=95, validity=10),
            signal("breakout", 5, confidence=0.6, target=112, stop=96, validity=10),
            signal("swing", 5, confidence=0.5, target=108, stop=94, validity=7),
            signal("mean_reversion", 5, kind="SELL", confidence=0.9, target=90, stop=105, validity=5),
        ]
    )
    row = result.signals.iloc[0]
    assert len(result.signals) == 1 and row["date"] == DAYS[5] and row["signal_type"] == "BUY"
    assert row["agreement"] == 0.75 and row["supporters"] == 3 and row["strategies_active"] == 4
    # Weighted by momentum .15, breakout .13, swing .10: (.15*.8 + .13*.6 + .10*.5) / .38 = .248 / .38
    assert row["consensus_confidence"] == pytest.approx(0.248 / 0.38)
    assert (row["target_price"], row["stop_loss"], row["validity_days"]) == (110.0, 95.0, 10)  # medians
    assert row["entry_price"] == 100.0
    # composite = .4 * .65263 + .3 * .75 + .3 * 3 / 10 = .57605 -> LOW (below .60)
    assert row["composite_score"] == pytest.approx(0.4 * 0.248 / 0.38 + 0.3 * 0.75 + 0.09)
    assert row["quality_tier"] == "LOW"
    assert row["strategies"] == "momentum,breakout,swing"
    assert (row["momentum_vote"], row["mean_reversion_vote"], row["value_vote"]) == (1, -1, 0)
    assert row["mean_reversion_confidence"] == 0.9
    breakdown = result.breakdown.set_index("strategy")
    assert set(breakdown.index) == {"momentum", "breakout", "swing", "mean_reversion"}
    assert not breakdown.loc["mean_reversion", "agrees"] and breakdown.loc["swing", "agrees"]
    assert breakdown.loc["breakout", "weight"] == 0.13 and breakdown.loc["momentum", "reason"] == "momentum fired"


def test_high_tier_needs_broad_agreement():
    rows = [signal(s, 5, confidence=0.9) for s in ["momentum", "breakout", "swing", "value", "multibagger", "low_volatility"]]
    row = consensus(rows).signals.iloc[0]
    # .4 * .9 + .3 * 1 + .3 * .6 = .84 -> HIGH
    assert row["composite_score"] == pytest.approx(0.84) and row["quality_tier"] == "HIGH"


def test_signals_stay_active_for_their_validity_counting_the_day_they_fire():
    rows = [signal("momentum", 2, validity=4), signal("breakout", 3, validity=10), signal("swing", 5, validity=10)]
    # momentum fired on day 2 is active on days 2, 3, 4, 5: all three are active on day 5.
    assert consensus(rows).signals["date"].tolist() == [DAYS[5]]
    rows[0]["validity_days"] = 3  # active on days 2, 3, 4 only
    assert consensus(rows).signals.empty


def test_same_day_only_counts_only_signals_fired_on_d():
    rows = [signal("momentum", 4), signal("breakout", 5), signal("swing", 5)]
    assert len(consensus(rows).signals) == 1
    assert consensus(rows, same_day_only=True).signals.empty


def test_a_symbol_signals_on_the_first_day_it_qualifies_and_again_only_after_a_gap():
    rows = [signal("momentum", 1, validity=3), signal("breakout", 1, validity=3), signal("swing", 1, validity=3)]
    rows += [signal("momentum", 6, validity=2), signal("breakout", 6, validity=2), signal("swing", 6, validity=2)]
    result = consensus(rows)
    # Qualifies on days 1-3 and 6-7: one signal for each run.
    assert result.signals["date"].tolist() == [DAYS[1], DAYS[6]]
    assert result.qualifying_days == 5


def test_the_newest_signal_of_a_strategy_is_the_one_counted():
    rows = [signal("momentum", 3, target=150), signal("momentum", 5, target=120), signal("breakout", 5, target=110), signal("swing", 5, target=130)]
    row = consensus(rows).signals.iloc[0]
    assert row["supporters"] == 3 and row["target_price"] == 120.0  # median of 120, 110, 130


def test_a_buy_whose_target_is_already_below_the_entry_is_dropped():
    closes = np.full(len(DAYS), 100.0)
    closes[5] = 111.0  # D's close: the median target 110 is already below it
    result = consensus([signal(s, 5) for s in ["momentum", "breakout", "swing"]], closes)
    # Not on day 5; the signals are still active on day 6, whose close (100) is under the target again.
    assert result.signals["date"].tolist() == [DAYS[6]]
    assert result.signals["entry_price"].item() == 100.0


def test_a_weak_consensus_below_the_composite_floor_is_dropped():
    rows = [signal(s, 5, confidence=0.05) for s in ["momentum", "breakout", "swing"]]
    rows += [signal(s, 5, kind="SELL", confidence=0.05, target=90, stop=105) for s in ["pivot_cpr", "value"]]
    # agreement 3/5: composite = .4 * .05 + .3 * .6 + .3 * .3 = .29 < .45
    assert consensus(rows).signals.empty
    assert len(consensus(rows, min_composite=0.25).signals) == 1


def test_a_tie_has_no_majority():
    rows = [signal(s, 5) for s in ["momentum", "breakout", "swing"]]
    rows += [signal(s, 5, kind="SELL", target=90, stop=105) for s in ["pivot_cpr", "value", "mean_reversion"]]
    assert consensus(rows).signals.empty


def test_sell_consensus_mirrors_buy():
    rows = [signal(s, 5, kind="SELL", confidence=0.7, target=t, stop=105) for s, t in [("momentum", 90), ("breakout", 92), ("swing", 94)]]
    row = consensus(rows).signals.iloc[0]
    assert row["signal_type"] == "SELL" and row["target_price"] == 92.0 and row["momentum_vote"] == -1


def test_symbols_are_kept_apart():
    frame = pd.concat([prices(symbol="AAA"), prices(symbol="BBB")])
    rows = [signal("momentum", 5, symbol="AAA"), signal("breakout", 5, symbol="AAA"), signal("swing", 5, symbol="BBB")]
    assert compute_consensus(frame, pd.DataFrame(rows)).signals.empty


def test_a_signal_on_a_symbols_last_bar_does_not_carry_into_the_next_symbol():
    # AAA's swing fires on its last bar with 10 days of validity; BBB's first bar has two signals of
    # its own. Were swing carried over (the next rows belong to BBB), BBB would have three supporters.
    frame = pd.concat([prices(symbol="AAA"), prices(symbol="BBB")])
    rows = [signal("swing", 9, symbol="AAA"), signal("momentum", 0, symbol="BBB"), signal("breakout", 0, symbol="BBB")]
    assert compute_consensus(frame, pd.DataFrame(rows)).signals.empty
    # The control: the same third signal fired on BBB's own first bar does make a consensus.
    rows[0] = signal("swing", 0, symbol="BBB")
    assert compute_consensus(frame, pd.DataFrame(rows)).signals["symbol"].tolist() == ["BBB"]


def test_row_median_skips_missing_values_and_averages_the_middle_pair():
    values = np.array([[110.0, np.nan, 120.0, 130.0], [np.nan, 90.0, np.nan, 100.0], [np.nan] * 4])
    # Row 1: 110, 120, 130 -> 120; row 2: 90, 100 -> 95; row 3: nothing -> missing.
    np.testing.assert_array_equal(row_nanmedian(values), [120.0, 95.0, np.nan])
