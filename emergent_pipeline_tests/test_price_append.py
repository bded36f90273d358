"""When a whole-history source only added days, and what the short way then judges (core.price_append)."""

import numpy as np
import pandas as pd

from emergent_pipeline.core.benchmark import equal_weight_index, extended_equal_weight_index
from emergent_pipeline.core.corporate_actions import adjust_for_splits, split_jumps
from emergent_pipeline.core.price_append import appended_rows, recent_jumps, symbol_fingerprints, window_days

DAYS = pd.bdate_range("2020-01-01", periods=80)
NO_ACTIONS = pd.DataFrame({"symbol": pd.Series(dtype=object), "date": pd.Series(dtype="datetime64[ns]"), "ratio": pd.Series(dtype=float)})


def panel(symbols=("AAA", "BBB", "CCC"), days=DAYS, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frames = []
    for symbol in symbols:
        close = 50 * np.exp(np.cumsum(rng.normal(0, 0.01, len(days))))
        frames.append(pd.DataFrame({"symbol": symbol, "date": days, "open": close, "high": close * 1.01, "low": close * 0.99,
                                    "close": close, "volume": rng.uniform(1e5, 2e5, len(days))}))
    return pd.concat(frames, ignore_index=True).sort_values(["symbol", "date"], ignore_index=True)


def fingerprints(prices: pd.DataFrame, settings: str = "s") -> pd.DataFrame:
    return symbol_fingerprints(prices, NO_ACTIONS, settings)


def test_a_fingerprint_does_not_depend_on_row_order_but_on_every_value_actions_and_settings():
    prices = panel()
    base = fingerprints(prices)
    assert fingerprints(prices.sample(frac=1, random_state=1)).equals(base)
    nudged = prices.copy()
    nudged.loc[5, "volume"] += 1
    changed = fingerprints(nudged)
    assert (changed["fingerprint"] != base["fingerprint"]).tolist() == [True, False, False]
    assert not fingerprints(prices, "other settings")["fingerprint"].eq(base["fingerprint"]).any()
    action = pd.DataFrame({"symbol": ["BBB"], "date": [DAYS[10]], "ratio": [2.0]})
    with_action = symbol_fingerprints(prices, action, "s")
    assert (with_action["fingerprint"] != base["fingerprint"]).tolist() == [False, True, False]
    assert base["bars"].tolist() == [80, 80, 80] and (base["through"] == DAYS[-1]).all()


def test_new_days_after_an_unchanged_history_are_the_appended_rows():
    prices = panel()
    stored = fingerprints(prices[prices["date"] < DAYS[-2]])
    new, why = appended_rows(prices, fingerprints(prices), stored)
    assert why == ""
    pd.testing.assert_frame_equal(new, prices[prices["date"] >= DAYS[-2]].reset_index(drop=True))
    same, _ = appended_rows(prices, fingerprints(prices), fingerprints(prices))
    assert same is not None and same.empty  # nothing new: nothing to write


def test_a_changed_stored_day_a_new_symbol_or_a_late_day_takes_the_whole_history():
    prices = panel()
    stored = fingerprints(prices[prices["date"] < DAYS[-1]])
    revised = prices.copy()
    revised.loc[(revised["symbol"] == "CCC") & (revised["date"] == DAYS[3]), "close"] *= 1.001
    new, why = appended_rows(revised, fingerprints(revised), stored)
    assert new is None and "1 symbol" in why and "CCC" in why
    more = pd.concat([prices, panel(["DDD"])], ignore_index=True)
    assert appended_rows(more, fingerprints(more), stored)[0] is None
    gap = prices[~((prices["symbol"] == "AAA") & (prices["date"] == DAYS[-5]))]  # a stored day filled in
    assert "AAA" in appended_rows(prices, fingerprints(prices), fingerprints(gap[gap["date"] < DAYS[-1]]))[1]
    behind = prices[(prices["symbol"] != "AAA") | (prices["date"] < DAYS[-4])]  # AAA stopped 3 days before the others
    new, why = appended_rows(prices, fingerprints(prices), fingerprints(behind[behind["date"] < DAYS[-1]]))
    assert new is None and why.startswith("AAA gained a day (") and f"{DAYS[-4]:%Y-%m-%d}" in why


def test_the_recent_days_are_judged_as_the_whole_history_judges_them():
    """A 2:1 split on the first of five new days (price halved, volume doubled from then on) is found
    on the window as on the whole history; without one, nothing is."""
    prices = panel()
    split = prices.copy()
    on_and_after = (split["symbol"] == "BBB") & (split["date"] >= DAYS[-5])
    split.loc[on_and_after, ["open", "high", "low", "close"]] /= 2
    split.loc[on_and_after, "volume"] *= 2
    stored = split[split["date"] < DAYS[-5]]
    window = stored[stored["date"] >= DAYS[-5 - window_days()]]
    for frame in (prices, split):
        new = frame[frame["date"] >= DAYS[-5]]
        jumps, why = recent_jumps(window, window, new, None)
        whole = split_jumps(frame, None)
        assert why == "" and jumps[["symbol", "date"]].values.tolist() == whole[["symbol", "date"]].values.tolist()
    assert len(whole) == 1


def test_a_window_an_adjustment_reached_or_a_young_symbol_cannot_be_judged_there():
    prices = panel()
    stored = prices[prices["date"] < DAYS[-1]]
    window = stored[stored["date"] >= DAYS[-1 - window_days()]]
    new = prices[prices["date"] == DAYS[-1]]
    adjusted = adjust_for_splits(window, pd.DataFrame({"symbol": ["AAA"], "date": [DAYS[-20]], "ratio": [2.0]}))
    assert recent_jumps(adjusted, window, new, None) == (None, "a corporate action adjusted the newest stored days")
    young = window[(window["symbol"] != "CCC") | (window["date"] >= DAYS[-30])]
    jumps, why = recent_jumps(young, young, new, None)
    assert jumps is None and why.startswith("CCC has 29 bars")


def test_the_equal_weight_index_extended_by_new_days_equals_the_whole_one_to_the_bit():
    prices = panel(seed=3)
    prices = prices[~((prices["symbol"] == "BBB") & (prices["date"] == DAYS[-2]))]  # a gap: BBB does not count on the last day
    whole = equal_weight_index(prices)
    before = equal_weight_index(prices[prices["date"] < DAYS[-2]])
    recent = prices[prices["date"] >= DAYS[-3]]
    extended = extended_equal_weight_index(before.iloc[-1], recent, pd.Index(["CCC", "AAA", "BBB"]))
    pd.testing.assert_frame_equal(pd.concat([before, extended], ignore_index=True), whole, check_exact=True)
    hand = prices[prices["date"].isin(DAYS[-3:-1])].pivot(index="date", columns="symbol", values="close")
    assert extended["close"].iloc[0] == before["close"].iloc[-1] * (1 + (hand.iloc[1] / hand.iloc[0] - 1).mean())
