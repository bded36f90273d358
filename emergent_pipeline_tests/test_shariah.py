import math

import pandas as pd
import pytest

from emergent_pipeline.core.shariah import (
    ShariahSettings,
    business_activity,
    exclusion_summary,
    filter_compliant,
    screen,
    screening_policy,
)
from emergent_pipeline.sources.bundled import BundledSource, load_bundled_fundamentals

AS_OF = pd.Timestamp("2018-02-08")


@pytest.fixture(scope="module")
def bundled():
    return BundledSource().universe(), load_bundled_fundamentals()


@pytest.fixture(scope="module")
def bundled_aaoifi(bundled):
    return screen(*bundled, ShariahSettings("AAOIFI")).set_index("symbol")


@pytest.fixture(scope="module")
def bundled_djim(bundled):
    return screen(*bundled, ShariahSettings("DJIM")).set_index("symbol")


def software_universe(*symbols: str) -> pd.DataFrame:
    return pd.DataFrame(
        {"symbol": list(symbols), "name": list(symbols), "sector": "Information Technology",
         "sub_industry": "Application Software"}
    )


def sheet(symbol, market_cap=100.0, as_of=AS_OF, **balance) -> dict:
    row = {"symbol": symbol, "as_of": pd.Timestamp(as_of), "market_cap": market_cap}
    defaults = {"total_debt": 10.0, "total_cash": 10.0, "receivables": 10.0, "total_assets": 300.0,
                "non_permissible_income_pct": 0.01}
    return row | defaults | balance


def run(standard, rows, prices=None, **settings) -> pd.DataFrame:
    fundamentals = pd.DataFrame(rows)
    universe = software_universe(*fundamentals["symbol"].unique())
    return screen(universe, fundamentals, ShariahSettings(standard, **settings), prices=prices).set_index("symbol")


# --- business activity on the real bundled data -------------------------------------------------------


@pytest.mark.parametrize(
    "symbol, reason",
    [
        ("BAC", "prohibited activity conventional finance: sub-industry 'Diversified Banks'"),
        ("JPM", "prohibited activity conventional finance: sub-industry 'Diversified Banks'"),
        ("TAP", "prohibited activity alcohol: sub-industry 'Brewers'"),
        ("MO", "prohibited activity tobacco: sub-industry 'Tobacco'"),
        ("PM", "prohibited activity tobacco: sub-industry 'Tobacco'"),
        ("WYNN", "prohibited activity gambling: sub-industry 'Casinos & Gaming'"),
        ("MGM", "prohibited activity gambling: sub-industry 'Casinos & Gaming'"),
        ("LMT", "prohibited activity defence: sub-industry 'Aerospace & Defense'"),
        ("NOC", "prohibited activity defence: sub-industry 'Aerospace & Defense'"),
        ("HRL", "prohibited activity pork: listed pork processor"),
    ],
)
def test_prohibited_businesses_are_non_compliant(bundled_aaoifi, bundled_djim, symbol, reason):
    for result in (bundled_aaoifi, bundled_djim):
        assert result.loc[symbol, "status"] == "NON_COMPLIANT"
        assert reason in result.loc[symbol, "reasons"].split("; ")


def test_exchanges_and_ordinary_food_makers_are_not_excluded_for_activity(bundled_aaoifi):
    for symbol in ("CME", "ICE", "NDAQ", "SPGI", "GIS", "HSY", "AAPL"):
        assert pd.isna(bundled_aaoifi.loc[symbol, "activity"]), symbol
        assert "prohibited activity" not in bundled_aaoifi.loc[symbol, "reasons"]


def test_financials_without_sub_industry_are_inferred_from_the_sector(bundled_aaoifi):
    assert pd.isna(BundledSource().universe().set_index("symbol").loc["BBT", "sub_industry"])
    assert bundled_aaoifi.loc["BBT", "status"] == "NON_COMPLIANT"
    assert bundled_aaoifi.loc["BBT", "activity"] == "conventional finance"
    assert "inferred from sector 'Financials' (sub-industry missing)" in bundled_aaoifi.loc["BBT", "reasons"]
    # Only Financials are inferred: a missing sub-industry elsewhere is no exclusion.
    other = pd.DataFrame({"symbol": ["X", "Y"], "sector": ["Financials", "Health Care"], "sub_industry": [None, None]})
    activity = business_activity(other).set_index("symbol")
    assert activity.loc["X", "activity"] == "conventional finance"
    assert pd.isna(activity.loc["Y", "activity"]) and pd.isna(activity.loc["Y", "activity_reason"])


def test_other_sources_finance_names_are_conventional_finance():
    names = ["Thrifts & Mortgage Finance", "Mortgage REITs", "Reinsurance", "Other Diversified Financial Services",
             "Specialized Finance", "Financial Exchanges & Data"]
    universe = pd.DataFrame({"symbol": list("ABCDEF"), "sector": "Financials", "sub_industry": names})
    activity = business_activity(universe)["activity"].tolist()
    assert activity[:5] == ["conventional finance"] * 5 and pd.isna(activity[5])


def test_hotels_and_entertainment_are_excluded_only_under_strict_standards(bundled, bundled_aaoifi, bundled_djim):
    assert bundled_aaoifi.loc["CCL", "status"] == "NON_COMPLIANT"
    assert "prohibited activity hotels and cruise lines" in bundled_aaoifi.loc["CCL", "reasons"]
    assert bundled_aaoifi.loc["DIS", "status"] == "NON_COMPLIANT"
    assert "prohibited activity entertainment" in bundled_aaoifi.loc["DIS", "reasons"]
    for symbol in ("CCL", "DIS"):
        assert pd.isna(bundled_djim.loc[symbol, "activity"])
        assert bundled_djim.loc[symbol, "status"] == "UNKNOWN"  # no balance sheet, but no activity exclusion
    assert ShariahSettings("AAOIFI").strict and not ShariahSettings("DJIM").strict
    strict_djim = screen(*bundled, ShariahSettings("DJIM", strict_activities=True)).set_index("symbol")
    lenient_aaoifi = screen(*bundled, ShariahSettings("AAOIFI", strict_activities=False)).set_index("symbol")
    assert strict_djim.loc["CCL", "activity"] == "hotels and cruise lines"
    assert pd.isna(lenient_aaoifi.loc["DIS", "activity"])


# --- unknown ratios and the filter policy ------------------------------------------------------------


def test_missing_balance_sheet_is_unknown_and_filtered_by_policy(bundled, bundled_aaoifi, bundled_djim):
    apple = bundled_aaoifi.loc["AAPL"]
    assert apple["status"] == "UNKNOWN"
    assert "debt ratio unknown: no total_debt" in apple["reasons"]
    assert "cash ratio unknown: no total_cash" in apple["reasons"]
    assert "non-permissible income unknown: no non_permissible_income_pct" in apple["reasons"]
    assert math.isnan(apple["debt_ratio"]) and apple["fundamentals_as_of"] == AS_OF
    # DJIM also lacks the 24-month average: one snapshot and no prices.
    assert "no 24-month average market cap" in bundled_djim.loc["AAPL", "reasons"]

    universe = bundled[0]
    result = bundled_aaoifi.reset_index()
    assert set(filter_compliant(universe, result, shariah_only=True)["symbol"]).isdisjoint({"AAPL"})
    assert "AAPL" in set(filter_compliant(universe, result, shariah_only=True, admit_unknown=True)["symbol"])
    assert "BAC" not in set(filter_compliant(universe, result, shariah_only=True, admit_unknown=True)["symbol"])
    assert filter_compliant(universe, result, shariah_only=False).equals(universe)
    assert screening_policy(True) == "COMPLIANT only"
    assert screening_policy(True, admit_unknown=True) == "COMPLIANT or UNKNOWN admitted"
    assert screening_policy(False).startswith("off")


def test_filter_keeps_compliant_and_treats_unscreened_symbols_as_unknown():
    result = run("AAOIFI", [sheet("OK")]).reset_index()
    frame = pd.DataFrame({"symbol": ["OK", "OK", "NEW"], "close": [1.0, 2.0, 3.0]})
    assert filter_compliant(frame, result, shariah_only=True)["symbol"].tolist() == ["OK", "OK"]
    assert filter_compliant(frame, result, shariah_only=True, admit_unknown=True)["symbol"].tolist() == [
        "OK", "OK", "NEW"]


def test_bundled_summary_counts_every_symbol(bundled_aaoifi):
    summary = exclusion_summary(bundled_aaoifi.reset_index())
    assert sum(summary["counts"].values()) == 505 and summary["counts"]["COMPLIANT"] == 0
    assert summary["top_reasons"]["debt ratio unknown"] == 505
    assert summary["top_reasons"]["prohibited activity alcohol"] == 3  # TAP, STZ, BF.B


def test_symbol_without_fundamentals_has_every_ratio_unknown():
    universe = software_universe("HAS", "NONE")
    result = screen(universe, pd.DataFrame([sheet("HAS")])).set_index("symbol")
    row = result.loc["NONE"]
    assert row["status"] == "UNKNOWN" and pd.isna(row["fundamentals_as_of"])
    assert "no fundamentals snapshot" in row["reasons"]
    assert "debt ratio unknown: no total_debt, no market_cap" in row["reasons"]
    assert result.loc["HAS", "status"] == "COMPLIANT" and result.loc["HAS", "reasons"] == ""


def test_zero_denominator_is_unknown_not_a_pass():
    result = run("MSCI", [sheet("Z", total_assets=0.0)])
    assert result.loc["Z", "status"] == "UNKNOWN"
    assert "debt ratio unknown: total_assets not positive" in result.loc["Z", "reasons"]


def test_newest_snapshot_is_used():
    rows = [sheet("A", as_of="2017-02-08", total_debt=90.0), sheet("A", total_debt=10.0)]
    result = run("AAOIFI", rows)
    assert result.loc["A", "status"] == "COMPLIANT" and result.loc["A", "fundamentals_as_of"] == AS_OF
    assert result.loc["A", "debt_ratio"] == pytest.approx(0.10)


# --- hand-made balance sheets, one pass and one just-over per standard ----------------------------------


def test_aaoifi_ratios_against_market_cap():
    result = run("AAOIFI", [
        sheet("PASS", total_debt=29.0, total_cash=29.0, receivables=90.0, non_permissible_income_pct=0.049),
        sheet("DEBT", total_debt=31.0),
        sheet("INCOME", non_permissible_income_pct=0.06),
    ])
    assert result.loc["PASS", "status"] == "COMPLIANT"
    assert result.loc["PASS", "ratio_basis"] == "market cap"
    assert math.isnan(result.loc["PASS", "receivables_ratio"])  # AAOIFI does not screen receivables
    assert result.loc["DEBT", "status"] == "NON_COMPLIANT"
    assert result.loc["DEBT", "debt_ratio"] == pytest.approx(31 / 100)
    assert result.loc["DEBT", "reasons"] == "debt ratio fails: 31.0% of market cap, must be below 30%"
    assert result.loc["INCOME", "reasons"] == "non-permissible income fails: 6.0% of revenue, must be below 5%"


def test_djim_ratios_against_24_month_average_of_snapshots():
    # Snapshots 80 and 120 inside the window average 100; the one of 2015 is outside it.
    history = [sheet(s, as_of="2015-02-08", market_cap=1000.0) for s in ("PASS", "RECV")]
    history += [sheet(s, as_of="2016-08-01", market_cap=80.0) for s in ("PASS", "RECV")]
    rows = history + [
        sheet("PASS", market_cap=120.0, total_debt=31.0, total_cash=32.0, receivables=32.9),
        sheet("RECV", market_cap=120.0, receivables=34.0),
    ]
    result = run("DJIM", rows)
    assert result.loc["PASS", "status"] == "COMPLIANT"
    assert result.loc["PASS", "debt_ratio"] == pytest.approx(31 / 100)  # would fail AAOIFI's 30 %
    assert result.loc["RECV", "status"] == "NON_COMPLIANT"
    assert result.loc["RECV", "receivables_ratio"] == pytest.approx(34 / 100)
    assert result.loc["RECV", "reasons"] == (
        "receivables ratio fails: 34.0% of 24-month average market cap, must be below 33%")
    assert math.isnan(result.loc["PASS", "non_permissible_income"])  # DJIM skips it


def test_sp_ratios_against_36_month_average_of_snapshots():
    # 2015-03-01 is inside 36 months (not 24): average of 60 and 140 is 100.
    rows = [sheet(s, as_of="2015-03-01", market_cap=60.0) for s in ("PASS", "DEBT")] + [
        sheet("PASS", market_cap=140.0, total_debt=32.0, total_cash=32.0, receivables=48.0),
        sheet("DEBT", market_cap=140.0, total_debt=34.0),
    ]
    result = run("SP", rows)
    assert result.loc["PASS", "status"] == "COMPLIANT"
    assert result.loc["PASS", "ratio_basis"] == "36-month average market cap"
    assert result.loc["PASS", "receivables_ratio"] == pytest.approx(0.48)
    assert result.loc["DEBT", "status"] == "NON_COMPLIANT"
    assert result.loc["DEBT", "reasons"] == "debt ratio fails: 34.0% of 36-month average market cap, must be below 33%"


def test_msci_ratios_against_total_assets():
    result = run("MSCI", [
        sheet("PASS", market_cap=1.0, total_assets=200.0, total_debt=66.0, total_cash=66.0, receivables=66.0),
        sheet("CASH", market_cap=1.0, total_assets=200.0, total_cash=67.0),
    ])
    assert result.loc["PASS", "status"] == "COMPLIANT"  # 33.0 % < 33.33 %, whatever the market cap
    assert result.loc["CASH", "cash_ratio"] == pytest.approx(67 / 200)
    assert result.loc["CASH", "reasons"] == "cash ratio fails: 33.5% of total assets, must be below 33.33%"


def test_failed_ratio_and_unknown_ratio_together_are_non_compliant_with_all_reasons():
    result = run("AAOIFI", [sheet("A", total_debt=50.0, total_cash=float("nan"))])
    assert result.loc["A", "status"] == "NON_COMPLIANT"
    assert result.loc["A", "reasons"] == (
        "debt ratio fails: 50.0% of market cap, must be below 30%; cash ratio unknown: no total_cash")


# --- trailing average market cap from prices ---------------------------------------------------------


def test_average_market_cap_from_prices_uses_the_trailing_window_only():
    dates = ["2015-06-01", "2016-06-01", "2017-02-01", "2017-10-02", "2018-02-08", "2018-03-01"]
    closes = [1000.0, 10.0, 20.0, 30.0, 40.0, 1000.0]  # first is before the window, last after as_of
    prices = pd.DataFrame({"symbol": "P", "date": pd.to_datetime(dates), "close": closes})
    # No close on as_of for Q: the last one on or before it (2018-02-05) sets the share count.
    prices_q = prices.assign(symbol="Q", date=prices["date"].replace(pd.Timestamp(AS_OF), pd.Timestamp("2018-02-05")))
    rows = [sheet("P", market_cap=400.0, total_debt=80.0), sheet("Q", market_cap=400.0, total_debt=80.0)]
    result = run("DJIM", rows, prices=pd.concat([prices, prices_q]))
    # shares = 400 / 40 = 10; mean close in (2016-02-08, 2018-02-08] = (10+20+30+40)/4 = 25; average cap 250.
    for symbol in ("P", "Q"):
        assert result.loc[symbol, "debt_ratio"] == pytest.approx(80 / 250)  # 32 %: passes, not 20 % of today's cap
        assert result.loc[symbol, "status"] == "COMPLIANT"
    failing = run("DJIM", [sheet("P", market_cap=400.0, total_debt=84.0)], prices=prices)
    assert failing.loc["P", "reasons"] == "debt ratio fails: 33.6% of 24-month average market cap, must be below 33%"


def test_invalid_standard_names_the_valid_ones():
    with pytest.raises(ValueError, match="AAOIFI, DJIM, SP, MSCI"):
        ShariahSettings(standard="FTSE")
