"""The Shariah screen: business activity from industry labels, and the standards' ratios per symbol
and day on hand-made statements and prices (figures computed here by hand), then on the bundled data."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from emergent_pipeline.core import shariah
from emergent_pipeline.core.activity import ActivitySettings, business_activity
from emergent_pipeline.core.fundamentals import canonical, point_in_time
from emergent_pipeline.core.indicators import sorted_panel
from emergent_pipeline.core.shariah import ShariahSettings
from emergent_pipeline.core.strategy_panel import join_fundamentals
from emergent_pipeline.sources.bundled import BundledSource

from emergent_pipeline_tests.bundled_inputs import bundled


@pytest.fixture(scope="module")
def universe():
    return BundledSource().universe()


def activity_of(universe, strict=False) -> pd.DataFrame:
    return business_activity(universe, ActivitySettings(strict=strict)).set_index("symbol")


# --- business activity on the real bundled labels --------------------------------------------------


@pytest.mark.parametrize(
    "symbol, reason",
    [
        ("BAC", "prohibited activity conventional finance: sub-industry 'Diversified Banks'"),
        ("JPM", "prohibited activity conventional finance: sub-industry 'Diversified Banks'"),
        ("TAP", "prohibited activity alcohol: sub-industry 'Brewers'"),
        ("STZ", "prohibited activity alcohol: sub-industry 'Distillers & Vintners'"),
        ("MO", "prohibited activity tobacco: sub-industry 'Tobacco'"),
        ("PM", "prohibited activity tobacco: sub-industry 'Tobacco'"),
        ("WYNN", "prohibited activity gambling: sub-industry 'Casinos & Gaming'"),
        ("MGM", "prohibited activity gambling: sub-industry 'Casinos & Gaming'"),
        ("LMT", "prohibited activity defence: sub-industry 'Aerospace & Defense'"),
        ("NOC", "prohibited activity defence: sub-industry 'Aerospace & Defense'"),
        ("HRL", "prohibited activity pork: listed pork processor"),
    ],
)
def test_prohibited_businesses(universe, symbol, reason):
    for strict in (False, True):
        row = activity_of(universe, strict).loc[symbol]
        assert row["activity_status"] == "prohibited" and row["activity_reason"] == reason


def test_exchanges_payment_processors_and_food_makers_are_permissible(universe):
    activity = activity_of(universe)
    for symbol in ("CME", "ICE", "NDAQ", "SPGI", "V", "MA", "GIS", "HSY", "AAPL"):
        assert activity.loc[symbol, "activity_status"] == "permissible", symbol
        assert activity.loc[symbol, "activity_reason"] == ""


def test_a_missing_sub_industry_falls_back_to_the_sector(universe):
    labels = universe.set_index("symbol")
    assert pd.isna(labels.loc["BBT", "sub_industry"]) and pd.isna(labels.loc["RTN", "sub_industry"])
    activity = activity_of(universe)
    # Financials: the bulk of the sector is conventional finance, and the reason says it was inferred.
    assert activity.loc["BBT", "activity_status"] == "prohibited"
    assert activity.loc["BBT", "activity_reason"] == (
        "prohibited activity conventional finance: inferred from sector 'Financials' (sub-industry missing)")
    # Industrials hold both defence contractors (Raytheon is one) and everything else: undecidable.
    assert activity.loc["RTN", "activity_status"] == "unknown"
    assert activity.loc["RTN", "activity_reason"] == (
        "activity unknown: sector 'Industrials' includes defence; a finer label is needed")
    other = pd.DataFrame({"symbol": ["H", "C"], "sector": ["Health Care", "Consumer Staples"], "sub_industry": [None, None]})
    other = activity_of(other)
    assert other.loc["H", "activity_status"] == "permissible"
    assert other.loc["C", "activity_reason"].endswith("includes alcohol, tobacco; a finer label is needed")


def test_unknown_or_missing_labels_are_unknown_never_a_pass():
    frame = pd.DataFrame({"symbol": ["X", "Y", "Z"], "sector": ["Space Mining", None, "  "], "sub_industry": [None, None, None]})
    activity = activity_of(frame)
    assert activity.loc["X", "activity_status"] == "unknown"
    assert activity.loc["X", "activity_reason"] == "activity unknown: sector 'Space Mining' is not in the activity mapping"
    for symbol in ("Y", "Z"):
        assert activity.loc[symbol, "activity_reason"] == "activity unknown: no industry label"
    no_columns = activity_of(pd.DataFrame({"symbol": ["A"]}))
    assert no_columns.loc["A", "activity_status"] == "unknown"


def test_labels_match_whatever_their_case_and_ampersands():
    frame = pd.DataFrame({"symbol": ["A", "B"], "sub_industry": ["casinos and gaming", "  DIVERSIFIED   banks "]})
    assert activity_of(frame)["activity"].tolist() == ["gambling", "conventional finance"]


def test_hotels_and_entertainment_only_under_the_strict_reading(universe):
    lenient, strict = activity_of(universe), activity_of(universe, strict=True)
    for symbol, activity in (("CCL", "hotels and cruise lines"), ("DIS", "entertainment"), ("HST", "hotels and cruise lines")):
        assert lenient.loc[symbol, "activity_status"] == "permissible"
        assert strict.loc[symbol, "activity"] == activity
    assert ShariahSettings("AAOIFI").strict and not ShariahSettings("SP").strict
    assert ShariahSettings("SP", strict_activities=True).strict


# --- the ratios per day, on hand-made data ------------------------------------------------------------

DAYS = pd.bdate_range("2014-01-01", "2018-01-31")


def prices(closes: dict[str, float | np.ndarray]) -> pd.DataFrame:
    return pd.concat([pd.DataFrame({"symbol": s, "date": DAYS, "open": c, "high": c, "low": c, "close": c, "volume": 1e6})
                      for s, c in closes.items()], ignore_index=True)


def statement(symbol, period_end="2016-12-31", shares=10.0, **items) -> dict:
    row = {"symbol": symbol, "kind": "annual", "period_end": period_end, "shares": shares, "total_debt": 10.0,
           "total_cash": 10.0, "receivables": 10.0, "total_assets": 300.0, "total_equity": 100.0}
    return row | items


def screened(standard, rows, closes, sector="Information Technology", sub_industry="Application Software", **settings):
    statements, _ = point_in_time(canonical(pd.DataFrame(rows)))
    panel = join_fundamentals(sorted_panel(prices(closes)), statements)
    universe = pd.DataFrame({"symbol": list(closes), "sector": sector, "sub_industry": sub_industry})
    return shariah.screen(panel, universe, ShariahSettings(standard, **settings)).set_index(["symbol", "date"])


ON = pd.Timestamp("2017-06-01")  # the 2016 statements are usable (from 2017-03-31)


def test_sp_compares_with_the_36_month_average_of_daily_market_caps():
    """Close 10 up to 2016-05-31, 20 from then on; 10 shares known from 2016-03-30 (the 2015 statement,
    usable from 2015-12-31 + 90 days) and 2017-03-31 on. On 2017-06-01 the daily market caps known in
    (2014-06-01, 2017-06-01] are 100 on the days of 2016-03-30 .. 2016-05-31 and 200 after: a trailing
    average well under today's 200, so debt 60 fails against today's cap but passes against the average."""
    close = np.where(DAYS <= "2016-05-31", 10.0, 20.0)
    rows = [statement(s, "2015-12-31", total_debt=debt) for s, debt in (("PASS", 60.0), ("FAIL", 70.0))]
    rows += [statement(s, "2016-12-31", total_debt=debt) for s, debt in (("PASS", 60.0), ("FAIL", 70.0))]
    result = screened("SP", rows, {"PASS": close, "FAIL": close})
    window = DAYS[(DAYS > ON - pd.DateOffset(months=36)) & (DAYS <= ON) & (DAYS >= "2016-03-30")]
    caps = np.where(window <= "2016-05-31", 100.0, 200.0)
    average = caps.mean()
    assert result.loc[("PASS", ON), "ratio_basis_value"] == pytest.approx(average)
    assert result.loc[("PASS", ON), "debt_ratio"] == pytest.approx(60 / average)
    assert 60 / average < 0.33 < 70 / average
    assert result.loc[("PASS", ON), "status"] == "COMPLIANT" and result.loc[("PASS", ON), "reasons"] == ""
    assert result.loc[("FAIL", ON), "status"] == "NON_COMPLIANT"
    assert result.loc[("FAIL", ON), "reasons"] == "debt ratio at or above 33% of 36-month average market cap"
    # Receivables have the S&P's own limit, 49 %.
    rows = [statement("RECV", "2015-12-31"), statement("RECV", receivables=0.48 * average)]
    assert screened("SP", rows, {"RECV": close}).loc[("RECV", ON), "status"] == "COMPLIANT"


def test_djim_averages_24_months_only():
    """Close 5 before 2015-06-01 (outside DJIM's 24 months on 2017-06-01, inside S&P's 36), then 10."""
    close = np.where(DAYS < "2015-06-01", 5.0, 10.0)
    rows = [statement("A", "2014-09-30"), statement("A", "2015-12-31"), statement("A", total_debt=32.0)]
    djim = screened("DJIM", rows, {"A": close}).loc[("A", ON)]
    sp = screened("SP", rows, {"A": close}).loc[("A", ON)]
    assert djim["ratio_basis_value"] == pytest.approx(100.0)  # only caps of 100 in the last 24 months
    assert djim["status"] == "COMPLIANT"  # 32 % < 33 %
    assert sp["ratio_basis_value"] < 100.0  # the 36 months reach back to caps of 50
    assert sp["status"] == "NON_COMPLIANT"


def test_msci_screens_against_total_assets_whatever_the_market_cap():
    rows = [statement("PASS", total_assets=200.0, total_debt=66.0, total_cash=30.0, receivables=36.0, shares=0.001),
            statement("RECV", total_assets=200.0, total_cash=30.0, receivables=37.0)]
    result = screened("MSCI", rows, {"PASS": 10.0, "RECV": 10.0})
    assert result.loc[("PASS", ON), "status"] == "COMPLIANT"  # 33.0 % < 33.33 %; receivables + cash 33.0 %
    assert result.loc[("RECV", ON), "receivables_ratio"] == pytest.approx(67 / 200)  # receivables and cash
    assert result.loc[("RECV", ON), "reasons"] == "receivables ratio at or above 33.33% of total assets"


def test_aaoifi_stays_unknown_without_non_permissible_income_and_says_why():
    rows = [statement("A", shares=100.0)]
    row = screened("AAOIFI", rows, {"A": 10.0}).loc[("A", ON)]
    assert row["status"] == "UNKNOWN"
    assert row["reasons"] == (
        "non-permissible income unknown: the statements do not report interest and other non-permissible income")
    assert row["debt_ratio"] == pytest.approx(10 / 1000)  # against today's market cap, no average
    given = screened("AAOIFI", [statement("A", shares=100.0, non_permissible_income=0.04)], {"A": 10.0}).loc[("A", ON)]
    assert given["status"] == "COMPLIANT"


def test_the_status_is_point_in_time():
    """The only statement (period end 2016-12-31) is usable from 2017-03-31 to 2018-06-30: before
    that day the status is UNKNOWN for want of a statement, from it on the ratios decide."""
    rows = [statement("A", total_debt=80.0)]
    result = screened("SP", rows, {"A": 10.0}).loc["A"]
    before, first = result.loc[:"2017-03-30"], result.loc["2017-03-31":]
    assert (before["status"] == "UNKNOWN").all() and (before["reasons"] == "no statement usable on this day").all()
    assert (first["status"] == "NON_COMPLIANT").all()  # 80 / 100 from the first usable day on
    assert result.loc["2017-03-31", "statement_period_end"] == pd.Timestamp("2016-12-31")


def test_an_old_statement_stops_being_used():
    """A 2014 statement is usable from 2015-03-31 for 15 months, to 2016-06-30."""
    result = screened("MSCI", [statement("A", "2014-12-31")], {"A": 10.0}).loc["A"]
    assert result.loc["2016-06-30", "status"] == "COMPLIANT"
    assert result.loc["2016-07-01", "status"] == "UNKNOWN"


def test_missing_items_and_denominators_are_unknown_not_a_pass():
    rows = [statement("DEBT", total_debt=np.nan), statement("ZERO", total_assets=0.0)]
    msci = screened("MSCI", rows, {"DEBT": 10.0, "ZERO": 10.0})
    assert msci.loc[("DEBT", ON), "status"] == "UNKNOWN"
    assert "debt ratio unknown: no debt in the statement" in msci.loc[("DEBT", ON), "reasons"]
    assert msci.loc[("ZERO", ON), "status"] == "UNKNOWN"
    assert "debt ratio unknown: no total assets" in msci.loc[("ZERO", ON), "reasons"]
    sp = screened("SP", [statement("NOSHARES", shares=np.nan)], {"NOSHARES": 10.0})
    assert "debt ratio unknown: no market cap in the last 36 months (no share count)" in sp.loc[("NOSHARES", ON), "reasons"]


def test_a_failed_and_an_unknown_ratio_together_are_non_compliant_with_both_reasons():
    row = screened("SP", [statement("A", total_debt=50.0, total_cash=np.nan)], {"A": 10.0}).loc[("A", ON)]
    assert row["status"] == "NON_COMPLIANT"
    assert row["reasons"] == "debt ratio at or above 33% of 36-month average market cap; cash ratio unknown: no cash in the statement"


def test_prohibited_activity_decides_whatever_the_balance_sheet():
    row = screened("SP", [statement("B")], {"B": 10.0}, sector="Financials", sub_industry="Regional Banks").loc[("B", ON)]
    assert row["status"] == "NON_COMPLIANT" and row["activity"] == "conventional finance"
    unknown = screened("SP", [statement("U")], {"U": 10.0}, sector="Industrials", sub_industry=None).loc[("U", ON)]
    assert unknown["status"] == "UNKNOWN" and unknown["reasons"].startswith("activity unknown: sector 'Industrials'")


def test_trailing_mean_by_hand():
    frame = pd.DataFrame({"symbol": ["A"] * 4 + ["B"] * 2, "date": pd.to_datetime(
        ["2016-01-01", "2016-06-01", "2017-01-02", "2017-05-01", "2016-01-01", "2017-01-02"]),
        "open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0, "volume": 1.0})
    panel = sorted_panel(frame)
    values = np.array([1.0, np.nan, 3.0, 5.0, 7.0, 9.0])
    # 12 months: A on 2017-05-01 sees (2016-05-01, 2017-05-01]: nan, 3, 5 -> 4; B never sees A's values.
    assert shariah.trailing_mean(panel, values, 12) == pytest.approx([1.0, 1.0, 3.0, 4.0, 7.0, 9.0], nan_ok=True)


def test_policy_words_and_admitted_statuses():
    assert shariah.screening_policy(True) == "COMPLIANT only"
    assert shariah.screening_policy(True, admit_unknown=True) == "COMPLIANT or UNKNOWN admitted"
    assert shariah.screening_policy(False).startswith("off")
    assert shariah.admitted_statuses(True) == ("COMPLIANT",)
    assert shariah.admitted_statuses(True, True) == ("COMPLIANT", "UNKNOWN")
    assert shariah.admitted_statuses(False) == shariah.STATUSES
    with pytest.raises(ValueError, match="AAOIFI, DJIM, SP, MSCI"):
        ShariahSettings(standard="FTSE")
    assert ShariahSettings().standard == "SP"


# --- the bundled data ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bundled_screen():
    prices, universe, fundamentals, _ = bundled()
    panel = join_fundamentals(sorted_panel(prices), fundamentals)
    return panel, shariah.screen(panel, universe)


def test_bundled_newest_day_under_sp(bundled_screen):
    panel, result = bundled_screen
    newest = shariah.newest_day(result).set_index("symbol")
    for symbol in ("JPM", "BAC", "MO", "STZ", "WYNN", "LMT"):
        assert newest.loc[symbol, "status"] == "NON_COMPLIANT", symbol
    counts = newest["status"].value_counts()
    assert counts.sum() == 505
    # Only the symbols with a statement usable on 2018-02-07 can be COMPLIANT (fiscal 2016 statements
    # with a period end after mid-2016; the file has no fiscal 2017): see README for the figures.
    usable = panel[panel["date"] == panel["date"].max()]["fund_period_end"].notna().sum()
    assert 0 < counts["COMPLIANT"] < usable
    compliant = newest[newest["status"] == "COMPLIANT"]
    assert (compliant["debt_ratio"] < 0.33).all() and (compliant["receivables_ratio"] < 0.49).all()
    summary = shariah.exclusion_summary(newest.reset_index())
    assert summary["counts"]["COMPLIANT"] == counts["COMPLIANT"]


def test_bundled_counts_over_the_years_are_those_of_an_islamic_index(bundled_screen):
    """Mid-2015 nearly every company's 2014 statement is usable: about 40 % of the S&P 500 COMPLIANT
    under S&P (the S&P 500 Shariah index holds roughly that share of the index)."""
    _, result = bundled_screen
    counts = result[result["date"] == "2015-06-30"]["status"].value_counts()
    assert 150 <= counts["COMPLIANT"] <= 300


# --- NSE's own industry labels (real lists, fixtures/nse) ---------------------------------------------------

NSE = Path(__file__).parent / "fixtures" / "nse"


@pytest.fixture(scope="module")
def nse_four_levels() -> pd.DataFrame:
    return pd.read_csv(NSE / "nse_symbol_classification_subset.csv")


def test_nse_basic_industries_decide_banks_insurers_tobacco_and_alcohol(nse_four_levels):
    universe = nse_four_levels.rename(columns={"basic_industry": "sub_industry"})[["symbol", "sector", "sub_industry"]]
    activity = activity_of(universe)
    for symbol, category in [("HDFCBANK", "conventional finance"), ("SBIN", "conventional finance"),
                             ("SBILIFE", "conventional finance"), ("ICICIGI", "conventional finance"),
                             ("GODFRYPHLP", "tobacco"), ("VSTIND", "tobacco"), ("UBL", "alcohol"), ("RADICO", "alcohol")]:
        assert activity.loc[symbol, "activity_status"] == "prohibited", symbol
        assert activity.loc[symbol, "activity"] == category, symbol
    for symbol in ("TCS", "INFY", "RELIANCE", "ASIANPAINT", "SUNPHARMA", "MARUTI"):
        assert activity.loc[symbol, "activity_status"] == "permissible", symbol
    # ITC sells cigarettes, but NSE files it under 'Diversified FMCG': not a pass, and the reason says why.
    assert activity.loc["ITC", "activity_status"] == "unknown"
    assert activity.loc["ITC", "activity_reason"] == (
        "activity unknown: sub-industry 'Diversified FMCG' includes tobacco; a finer label is needed")


def test_every_nse_label_of_the_real_lists_is_mapped(nse_four_levels):
    labels = set()
    for level in ("macro", "sector", "industry", "basic_industry"):
        labels |= set(nse_four_levels[level].dropna())
    for name in ("ind_nifty500list.csv", "ind_nifty500list_old_2020.csv"):
        labels |= set(pd.read_csv(NSE / name)["Industry"].dropna())
    artefacts = {"TRADING", "SERVICES/TRADING"}  # legacy rows of the source file, not NSE categories
    frame = pd.DataFrame({"symbol": [f"S{i}" for i in range(len(labels))], "sector": sorted(labels)})
    unmapped = activity_of(frame).query("activity_reason.str.contains('not in the activity mapping')", engine="python")
    assert set(frame.set_index("symbol").loc[unmapped.index, "sector"]) <= artefacts


def test_the_old_nse_scheme_and_a_bank_through_the_screen():
    old = pd.read_csv(NSE / "ind_nifty500list_old_2020.csv").rename(columns={"Symbol": "symbol", "Industry": "sector"})
    activity = activity_of(old)
    assert activity.loc["HDFCBANK", "activity_reason"] == (
        "prohibited activity conventional finance: inferred from sector 'FINANCIAL SERVICES' (sub-industry missing)")
    assert activity.loc["ITC", "activity_status"] == "unknown"  # 'CONSUMER GOODS' holds tobacco and alcohol too
    assert activity.loc["TCS", "activity_status"] == "permissible"
    row = screened("SP", [statement("HDFCBANK")], {"HDFCBANK": 10.0}, sector="Financial Services",
                   sub_industry="Private Sector Bank").loc[("HDFCBANK", ON)]
    assert row["status"] == "NON_COMPLIANT"


def test_screening_from_a_day_gives_the_rows_of_the_whole_screen(bundled_screen):
    """A refresh screens only its new days, the earlier rows feeding the 36-month average: the rows
    equal those of the whole screen from that day on."""
    panel, whole = bundled_screen
    _, universe, _, _ = bundled()
    from_day = pd.Timestamp("2017-06-01")
    recent = shariah.screen(panel, universe, from_day=from_day)
    expected = whole[whole["date"] >= from_day].reset_index(drop=True)
    assert len(recent) == len(expected) > 0
    pd.testing.assert_frame_equal(recent.reset_index(drop=True), expected)
