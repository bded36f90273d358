"""Corporate actions as a rule: bonus issues and splits at any ratio of small integers are found and
adjusted, crashes, spin-offs and special dividends are not; a corporate-actions file comes first."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from emergent_pipeline.core.corporate_actions import (
    CorporateActionsError, adjust_detected_splits, adjust_for_splits, corporate_actions, parse_ratio, split_jumps,
)
from emergent_pipeline.sources.bundled import load_bundled_inputs

DAYS = pd.bdate_range("2021-01-04", periods=160)
EVENT = 100
"""The index of the event day in ``DAYS``."""


def calm_series(seed: int, start: float = 500.0) -> pd.DataFrame:
    """A calm stock: daily moves of 1.2 %, overnight gaps of 0.4 %, a day's range of about 2 %, a million
    shares a day (± 20 %)."""
    rng = np.random.default_rng(seed)
    close = start * np.exp(np.cumsum(rng.normal(0, 0.012, len(DAYS))))
    previous = np.r_[start, close[:-1]]
    open_ = previous * np.exp(rng.normal(0, 0.004, len(DAYS)))
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.006, len(DAYS))))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.006, len(DAYS))))
    volume = 1e6 * np.exp(rng.normal(0, 0.2, len(DAYS)))
    return pd.DataFrame({"date": DAYS, "open": open_, "high": high, "low": low, "close": close, "volume": volume})


def after_action(bars: pd.DataFrame, ratio: float, market_move: float = 0.0) -> pd.DataFrame:
    """The same stock had it gone ex a corporate action of ``ratio`` (shares after per share before)
    on the event day: from then on prices ÷ ratio and volumes × ratio, as an unadjusting exchange file
    shows it; on the day itself it also moves with the market (``market_move``) after the open."""
    bars = bars.copy()
    later = bars.index >= EVENT
    bars.loc[later, ["open", "high", "low", "close"]] /= ratio
    bars.loc[later, "volume"] *= ratio
    if market_move:
        moved = bars.index >= EVENT  # the close and everything after it move with the market
        bars.loc[moved & (bars.index > EVENT), ["open", "high", "low", "close"]] *= 1 + market_move
        bars.loc[EVENT, ["close", "low"]] *= 1 + market_move
    return bars


def panel(events: dict[str, tuple[float, float]], quiet: int = 6) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(prices, index): ``quiet`` calm stocks and one stock per event (symbol → (ratio, market move)),
    with an index that moves by the day's market move."""
    market = np.zeros(len(DAYS))
    frames = []
    for k in range(quiet):
        frames.append(calm_series(100 + k).assign(symbol=f"CALM{k}"))
    for k, (symbol, (ratio, move)) in enumerate(events.items()):
        market[EVENT] = market[EVENT] or move
        frames.append(after_action(calm_series(k), ratio, move).assign(symbol=symbol))
    index_close = 10_000 * np.exp(np.cumsum(np.log1p(market)))
    index = pd.DataFrame({"date": DAYS, "open": index_close, "high": index_close, "low": index_close, "close": index_close, "volume": 0.0})
    return pd.concat(frames, ignore_index=True), index


def test_bonus_issues_and_splits_at_their_own_ratios_are_found():
    prices, index = panel({"ONEFORTHREE": (4 / 3, 0.0), "TWOFORFIVE": (7 / 5, 0.0), "TENFORONE": (10.0, 0.0), "CONSOLIDATED": (0.2, 0.0)})
    found = split_jumps(prices, index).set_index("symbol")
    assert set(found.index) == {"ONEFORTHREE", "TWOFORFIVE", "TENFORONE", "CONSOLIDATED"}
    assert (found["date"] == DAYS[EVENT]).all()
    assert found["ratio"].to_dict() == pytest.approx({"ONEFORTHREE": 4 / 3, "TWOFORFIVE": 1.4, "TENFORONE": 10.0, "CONSOLIDATED": 0.2})
    adjusted = adjust_for_splits(prices, found.reset_index())
    for symbol, seed in [("ONEFORTHREE", 0), ("TWOFORFIVE", 1), ("TENFORONE", 2)]:
        original = calm_series(seed)  # on the basis after the action: prices ÷ ratio before, volume × ratio
        ratio = found.loc[symbol, "ratio"]
        mine = adjusted[adjusted["symbol"] == symbol].reset_index(drop=True)
        assert mine["close"].to_numpy() == pytest.approx(original["close"].to_numpy() / ratio)
        assert mine["volume"].to_numpy() == pytest.approx(original["volume"].to_numpy() * ratio)


def test_a_bonus_on_a_day_the_market_fell_six_percent_is_found():
    """A 1:3 bonus (price × 3/4) on a day the index fell 6 %: the stock closes 29.5 % down, which is no
    ratio of its own; allowing for the market's move, it is the bonus."""
    prices, index = panel({"BONUS": (4 / 3, -0.06)})
    bonus = prices[prices["symbol"] == "BONUS"].reset_index(drop=True)
    assert bonus["close"][EVENT] / bonus["close"][EVENT - 1] == pytest.approx(0.75 * 0.94, rel=0.05)
    found = split_jumps(prices, index)
    assert found["symbol"].tolist() == ["BONUS"] and found["ratio"].iloc[0] == pytest.approx(4 / 3)
    assert found["index_move"].iloc[0] == pytest.approx(-0.06)


def test_a_crash_a_special_dividend_and_a_bad_print_are_not_corporate_actions():
    """The price falls by a bonus's ratio, but: a crash trades in panic (ten times its volume); a special
    dividend leaves the share count, hence the volume, as it was; a bad print comes back the next day."""
    prices, index = panel({})
    crash = after_action(calm_series(7), 4 / 3).assign(symbol="CRASH")
    crash.loc[EVENT:, "volume"] /= 4 / 3  # no new shares ...
    crash.loc[EVENT, "volume"] *= 10  # ... and a panic
    dividend = after_action(calm_series(8), 5 / 4).assign(symbol="DIVIDEND")
    dividend.loc[EVENT:, "volume"] /= 5 / 4  # no new shares
    glitch = calm_series(9).assign(symbol="GLITCH")
    glitch.loc[EVENT, ["open", "high", "low", "close"]] /= 2  # one day at half price, then back
    found = split_jumps(pd.concat([prices, crash, dividend, glitch], ignore_index=True), index)
    assert found.empty, found


def test_no_real_crash_spin_off_or_special_dividend_of_five_years_of_the_sp500_is_taken_for_one():
    """The bundled panel is adjusted for its splits but for Discovery's share dividend of 2014-08-07
    (listed in its corporate-actions file). Its 135 days beyond ±20 % are earnings crashes (Best Buy
    −28.6 % on 2014-01-16, a close 7/5 below the day before), spin-offs (eBay, Baxter, Hewlett Packard
    Enterprise, Vornado), special dividends (Symantec, KLA) and bad prints: the rule takes none of them
    for a corporate action."""
    prices, _, _, index = load_bundled_inputs()
    found = split_jumps(prices, index)
    assert set(found["symbol"]) <= {"DISCA", "DISCK"}, found
    best_buy = prices[(prices["symbol"] == "BBY") & prices["date"].between("2013-10-01", "2014-04-01")]
    assert split_jumps(best_buy, index).empty


def test_a_corporate_actions_file_is_read_as_written_and_checked():
    table = pd.DataFrame({"symbol": ["wipro", "GAIL", "ITC"], "ex_date": ["2019-03-06", "2017-03-09", "2005-09-21"],
                          "ratio": ["4:3", "1.3333333", "2"]})
    actions = corporate_actions(table)
    assert actions["symbol"].tolist() == ["GAIL", "ITC", "WIPRO"]
    assert actions["ratio"].tolist() == pytest.approx([4 / 3, 2.0, 4 / 3])
    assert parse_ratio("1:10") == pytest.approx(0.1)
    with pytest.raises(CorporateActionsError, match="no column ratio"):
        corporate_actions(table.drop(columns="ratio"))
    with pytest.raises(CorporateActionsError, match=r"2 row\(s\) without a date or a ratio other than 1 \(row 2, row 4\)"):
        corporate_actions(table.assign(ratio=["1", "2", "x:y"]))
    with pytest.raises(CorporateActionsError, match="lists ITC on 2005-09-21 twice"):
        corporate_actions(pd.concat([table, table.tail(1)], ignore_index=True))


def test_recent_days_alone_give_the_verdicts_the_whole_history_gives():
    """The daily check reads only recent days. A 5:4 bonus whose volume shift is borderline: over
    the whole history its median volume before is 1.1 M (ten days at 1.0 M, ten at 1.2 M) and the
    shift after it (1.25 M) is enough; from a read that starts ten days before it, the median is
    1.2 M and it is not. Judging only the days with a whole volume median before them, every read
    gives the whole history's verdicts on those days; judging every day does not."""
    bars = calm_series(7)
    bars["volume"] = np.select([bars.index < EVENT - 10, bars.index < EVENT], [1.0e6, 1.2e6], 1.0e6)
    prices = pd.concat([after_action(bars, 1.25).assign(symbol="BONUS"), *(calm_series(50 + k).assign(symbol=f"CALM{k}") for k in range(6))],
                       ignore_index=True)
    whole = split_jumps(prices, None)
    assert whole[["symbol", "date"]].values.tolist() == [["BONUS", DAYS[EVENT]]]
    naive_differs = False
    for start in range(EVENT - 30, EVENT):
        recent = prices[prices["date"] >= DAYS[start]]
        judged = split_jumps(recent, None, judged_whole_only=True)
        first_judged = DAYS[start + 20]
        pd.testing.assert_frame_equal(judged.reset_index(drop=True), whole[whole["date"] >= first_judged].reset_index(drop=True))
        naive = split_jumps(recent, None)
        naive_differs |= not naive.equals(whole[whole["date"] >= DAYS[start]].reset_index(drop=True))
    assert naive_differs


def test_an_action_the_raw_volumes_hide_is_found_once_the_one_before_it_is_adjusted():
    """A 2:1 split, then a 5:4 bonus eight days later. On the raw bars the bonus day trades 2.5 M
    shares against a median of 1 M before it (most of its window is pre-split): more than the rule
    allows a calm day, so only the split is found. Adjusted for the split, the volumes before the
    bonus are 2 M and it is found; adjusting both leaves nothing for the check."""
    bonus = EVENT + 8
    bars = after_action(calm_series(3), 2.0)
    bars["volume"] = np.select([bars.index < EVENT, bars.index < bonus], [1.0e6, 2.0e6], 2.5e6)
    bars.loc[bars.index >= bonus, ["open", "high", "low", "close"]] /= 1.25
    prices = pd.concat([bars.assign(symbol="TWICE"), *(calm_series(60 + k).assign(symbol=f"CALM{k}") for k in range(6))], ignore_index=True)
    first = split_jumps(prices, None)
    assert first[["symbol", "date"]].values.tolist() == [["TWICE", DAYS[EVENT]]]
    assert split_jumps(adjust_for_splits(prices, first), None)[["date"]].values.tolist() == [[DAYS[bonus]]]  # one pass leaves it
    adjusted, jumps = adjust_detected_splits(prices, None, first)
    assert jumps["date"].tolist() == [DAYS[EVENT], DAYS[bonus]] and jumps["ratio"].tolist() == pytest.approx([2.0, 1.25])
    assert split_jumps(adjusted, None).empty
    original = calm_series(3)["close"].to_numpy()  # on the basis after both: ÷ 2 ÷ 1.25 before the split
    assert adjusted[adjusted["symbol"] == "TWICE"]["close"].to_numpy() == pytest.approx(original / 2.0 / 1.25)
