"""Point-in-time fundamentals: availability, maximum age, the share basis (splits), carried share
counts, growth, and the as-of join, on hand-made statements and on the real bundled ones."""

import numpy as np
import pandas as pd
import pytest

from emergent_pipeline.core.fundamentals import (
    AvailabilityParams, FundamentalsError, canonical, infer_splits, point_in_time, statements_from_snapshot,
)
from emergent_pipeline.core.indicators import sorted_panel
from emergent_pipeline.core.strategy_panel import JOINED, join_fundamentals
from emergent_pipeline.sources.bundled import BundledSource, load_annual_statements

from emergent_pipeline_tests.bundled_inputs import bundled


def annual(symbol, period_end, **items) -> dict:
    return {"symbol": symbol, "kind": "annual", "period_end": period_end} | items


def daily(symbol, closes, start="2014-01-01") -> pd.DataFrame:
    days = pd.bdate_range(start, periods=len(closes))
    return pd.DataFrame({"symbol": symbol, "date": days, "open": closes, "high": closes, "low": closes, "close": closes, "volume": 1.0})


# --- availability -----------------------------------------------------------------------------------


def test_availability_is_filing_date_else_period_end_plus_lag_and_lasts_the_maximum_age():
    rows = canonical(pd.DataFrame([annual("A", "2015-12-31", eps=1.0), annual("B", "2015-12-31", filed="2016-02-20", eps=1.0)]))
    table, _ = point_in_time(rows)
    table = table.set_index("symbol")
    assert table.loc["A", "available_from"] == pd.Timestamp("2016-03-30")  # 90 days after the period end
    assert table.loc["B", "available_from"] == pd.Timestamp("2016-02-20")  # the filing date, where known
    assert table.loc["A", "usable_until"] == pd.Timestamp("2017-06-30")  # 15 months after availability
    lagged, _ = point_in_time(rows, AvailabilityParams(filing_lag_days=60, max_age_months=12))
    assert lagged.set_index("symbol").loc["A", "available_from"] == pd.Timestamp("2016-02-29")
    assert lagged.set_index("symbol").loc["A", "usable_until"] == pd.Timestamp("2017-02-28")


def test_a_snapshot_is_usable_from_its_own_day_and_expires_like_a_statement():
    snapshot = pd.DataFrame({"symbol": ["A"], "as_of": ["2018-02-08"], "price": [50.0], "eps": [5.0], "market_cap": [500.0],
                             "price_book": [2.0], "price_sales": [1.0], "ebitda": [40.0]})
    table, _ = point_in_time(statements_from_snapshot(snapshot))
    row = table.iloc[0]
    assert row["available_from"] == pd.Timestamp("2018-02-08") and row["usable_until"] == pd.Timestamp("2019-05-08")
    assert row["shares"] == 10.0 and row["total_equity"] == 250.0 and row["revenue"] == 500.0
    # Applied to two more years of bars (another source's), it stops after 15 months.
    prices = daily("A", np.full(600, 50.0), start="2018-01-01")
    panel = join_fundamentals(sorted_panel(prices), table).set_index("date")
    assert pd.isna(panel.loc["2018-02-07", "eps"]) and panel.loc["2018-02-08", "eps"] == 5.0
    assert panel.loc["2019-05-08", "eps"] == 5.0 and pd.isna(panel.loc["2019-05-09", "eps"])


def test_the_newest_usable_statement_wins_and_each_item_falls_back_to_the_newest_that_has_it():
    rows = canonical(pd.DataFrame([
        annual("A", "2015-12-31", eps=1.0, total_debt=10.0, receivables=7.0),
        annual("A", "2016-12-31", eps=2.0, total_debt=20.0),  # no receivables in the newer one
    ]))
    table, _ = point_in_time(rows)
    panel = join_fundamentals(sorted_panel(daily("A", np.full(1100, 10.0))), table).set_index("date")
    assert panel.loc["2016-03-29", "fund_period_end"] is pd.NaT or pd.isna(panel.loc["2016-03-29", "eps"])
    assert panel.loc["2016-03-30", ["eps", "total_debt", "receivables"]].tolist() == [1.0, 10.0, 7.0]
    assert panel.loc["2017-03-31", ["eps", "total_debt", "receivables"]].tolist() == [2.0, 20.0, 7.0]
    assert panel.loc["2017-03-31", "fund_period_end"] == pd.Timestamp("2016-12-31")
    # The older statement's receivables go when it expires (2017-06-30), not with the newer one.
    assert pd.isna(panel.loc["2017-07-03", "receivables"]) and panel.loc["2017-07-03", "eps"] == 2.0


def test_unusable_files_are_named_errors():
    with pytest.raises(FundamentalsError, match="need the columns"):
        canonical(pd.DataFrame({"ticker": ["A"], "period_end": ["2016-12-31"]}))
    with pytest.raises(FundamentalsError, match="unreadable period_end"):
        canonical(pd.DataFrame({"symbol": ["A"], "period_end": ["31/31/2016"]}))
    with pytest.raises(FundamentalsError, match="unknown statement kinds"):
        canonical(pd.DataFrame({"symbol": ["A"], "period_end": ["2016-12-31"], "kind": ["monthly"]}))


# --- share basis ----------------------------------------------------------------------------------------


def test_a_split_between_statements_puts_earlier_ones_on_the_later_basis():
    """2:1 between fiscal 2014 and 2015: 100 shares then 202 (a 1 % issue on top); the 2014 EPS of 4
    becomes 2 and its 100 shares 200. A 1.2x jump is not a usual split ratio and is left alone."""
    rows = canonical(pd.DataFrame([
        annual("S", "2014-12-31", eps=4.0, shares=100.0), annual("S", "2015-12-31", eps=2.2, shares=202.0),
        annual("I", "2014-12-31", eps=4.0, shares=100.0), annual("I", "2015-12-31", eps=4.0, shares=120.0),
    ]))
    table, splits = point_in_time(rows)
    assert splits[["symbol", "ratio"]].values.tolist() == [["S", 2.0]]
    s = table[table["symbol"] == "S"].set_index("period_end")
    assert s.loc["2014-12-31", ["eps", "shares", "split_factor"]].tolist() == [2.0, 200.0, 2.0]
    assert s.loc["2015-12-31", ["eps", "shares", "split_factor"]].tolist() == [2.2, 202.0, 1.0]
    assert s.loc["2015-12-31", "eps_growth"] == pytest.approx(0.1)  # on one basis: 2 -> 2.2
    assert table[table["symbol"] == "I"]["split_factor"].eq(1.0).all()


def test_the_step_to_a_snapshot_needs_book_value_per_share_to_fall_too():
    """Shares x2 against the snapshot: a split when book per share halves (equity kept), a merger
    paid in shares when equity doubled with them."""
    statements = canonical(pd.DataFrame([annual("SPLIT", "2016-12-31", shares=100.0, total_equity=1000.0),
                                         annual("MERGE", "2016-12-31", shares=100.0, total_equity=1000.0)]))
    snapshot = statements_from_snapshot(pd.DataFrame({
        "symbol": ["SPLIT", "MERGE"], "as_of": "2018-02-08", "price": [10.0, 10.0], "market_cap": [2000.0, 2000.0],
        "price_book": [2.0, 1.0], "eps": 1.0,  # book: 1000 (kept) and 2000 (doubled)
    }))
    splits = infer_splits(pd.concat([statements, snapshot], ignore_index=True))
    assert splits[["symbol", "ratio"]].values.tolist() == [["SPLIT", 2.0]]


def test_aapl_on_2014_03_31_on_one_basis():
    """The issue's check: FY2013 EPS 40.03 on 925 M shares, before the 7-for-1 split of 2014; on the
    split-adjusted close of 76.68 the P/E is about 13.4 (not 1.9) and the market cap about $0.5 trillion."""
    prices, _, fundamentals, _ = bundled()
    panel = join_fundamentals(sorted_panel(prices[prices["symbol"] == "AAPL"]), fundamentals).set_index("date")
    day = panel.loc["2014-03-31"]
    assert day["close"] == pytest.approx(76.68, abs=0.01)
    assert day["pe_pit"] == pytest.approx(13.4, rel=0.10)
    assert day["market_cap_pit"] == pytest.approx(0.5e12, rel=0.10)
    assert day["fund_period_end"] == pd.Timestamp("2013-09-28")


def test_known_real_splits_are_found_in_the_bundled_statements():
    _, splits = point_in_time(BundledSource().fundamentals().statements)
    found = {(r.symbol, r.ratio) for r in splits.itertuples()}
    # 7-for-1: Apple 2014, Netflix 2015; 4-for-1 Hanesbrands 2015; 2-for-1 Union Pacific 2014, Starbucks 2015.
    for known in [("AAPL", 7.0), ("NFLX", 7.0), ("HBI", 4.0), ("UNP", 2.0), ("SBUX", 2.0), ("CHD", 2.0), ("ISRG", 3.0)]:
        assert known in found
    # Mastercard's 10-for-1 of January 2014 came before its FY2013 filing: already on the new basis, no jump.
    assert not any(symbol == "MA" for symbol, _ in found)
    # Chubb (ACE bought Chubb with shares) and Newell (Jarden) grew by mergers, not splits.
    assert not any(symbol in ("CB", "NWL") for symbol, _ in found)


def test_a_missing_share_count_is_carried_over_one_statement_only():
    rows = canonical(pd.DataFrame([
        annual("A", "2014-12-31", eps=1.0, shares=100.0), annual("A", "2015-12-31", eps=np.nan),
        annual("A", "2016-12-31", eps=np.nan),
    ]))
    table, _ = point_in_time(rows)
    table = table.set_index("period_end")
    assert table.loc["2015-12-31", "shares"] == 100.0
    assert table.loc["2015-12-31", "shares_from_period_end"] == pd.Timestamp("2014-12-31")
    assert pd.isna(table.loc["2016-12-31", "shares"])  # never two gaps


def test_bundled_annual_statements_read_the_file_columns():
    statements = load_annual_statements().set_index(["symbol", "period_end"])
    apple = statements.loc[("AAPL", pd.Timestamp("2013-09-28"))]
    assert apple["eps"] == 40.03 and apple["shares"] == pytest.approx(37_037e6 / 40.03)
    assert apple["total_debt"] == 16_960e6  # long-term 16,960 M + short-term 0
    assert apple["total_cash"] == 14_259e6 + 26_287e6  # cash + short-term investments
    assert apple["receivables"] == 24_094e6 and apple["total_assets"] == 207_000e6


# --- no look-ahead ----------------------------------------------------------------------------------------


def test_no_statement_is_used_before_its_availability_day():
    """On the joined bundled panel: the newest usable statement was available on or before D; and for
    sample days D, joining only the statements available by D gives the same values on D."""
    prices, _, fundamentals, _ = bundled()
    panel = join_fundamentals(sorted_panel(prices), fundamentals)
    used = panel["fund_available_from"].notna()
    assert used.mean() > 0.5
    assert (panel.loc[used, "fund_available_from"] <= panel.loc[used, "date"]).all()
    for day in pd.to_datetime(["2013-06-28", "2014-03-31", "2015-11-30", "2017-02-15", "2018-02-07"]):
        known = fundamentals[fundamentals["available_from"] <= day]
        on_day = panel[panel["date"] == day].reset_index(drop=True)
        truncated = join_fundamentals(sorted_panel(prices[prices["date"] == day]), known).reset_index(drop=True)
        for column in JOINED:
            np.testing.assert_array_equal(on_day[column].to_numpy(), truncated[column].to_numpy(), err_msg=f"{column} on {day:%Y-%m-%d}")
