"""yfinance statements and ``info`` on recorded real responses (fixtures/yfinance_fundamentals), through
the adapter and through real Dagster runs; per-symbol failures; stored tables kept on failure."""

import json
from typing import ClassVar

import pandas as pd
import pytest

from emergent_pipeline.core.fundamentals import point_in_time
from emergent_pipeline.defs.prices.resources import PriceSourceResource
from emergent_pipeline.sources.yfinance_fundamentals import YFinanceFundamentalsClient, statements_from_yahoo

from emergent_pipeline_tests.conftest import assert_tables_unchanged, materialization_metadata, materialize, read, stored_tables, table_text
from emergent_pipeline_tests.yfinance_fundamentals_replay import FIXTURES, RECORDED, RecordedTickers
from emergent_pipeline_tests.yfinance_replay import RecordedDownload

RECORDED_ON = pd.Timestamp("2025-12-18")  # AAPL's info and annual statements were saved that day
ASSETS = ["universe", "price_history", "fundamentals"]


@pytest.fixture(scope="module")
def aapl() -> pd.DataFrame:
    return statements_from_yahoo("AAPL", RECORDED["AAPL"](), RECORDED_ON).set_index(["kind", "period_end"])


def raw(name: str) -> pd.DataFrame:
    return pd.read_csv(FIXTURES / name, index_col=0)


def test_annual_statements_read_yahoos_line_items(aapl):
    balance, income = raw("AAPL_balance_sheet.csv"), raw("AAPL_income_stmt.csv")
    fy2025 = aapl.loc[("annual", pd.Timestamp("2025-09-30"))]
    column = "2025-09-30"
    assert fy2025["total_debt"] == balance.loc["Total Debt", column]
    assert fy2025["total_cash"] == balance.loc["Cash And Cash Equivalents", column] + balance.loc["Other Short Term Investments", column]
    assert fy2025["receivables"] == balance.loc["Accounts Receivable", column]
    assert fy2025["total_equity"] == balance.loc["Stockholders Equity", column]
    assert fy2025["shares"] == balance.loc["Ordinary Shares Number", column]
    assert fy2025["eps"] == income.loc["Basic EPS", column] == 7.49
    assert fy2025["revenue"] == income.loc["Total Revenue", column]
    assert fy2025["net_income"] == income.loc["Net Income Common Stockholders", column]


def test_quarterly_income_is_summed_over_four_quarters(aapl):
    """At Apple's fiscal year end the four quarters make the year: the trailing sums equal the annual
    statement's figures, two recordings made months apart by different people."""
    quarter, year = aapl.loc[("quarterly", pd.Timestamp("2024-09-30"))], aapl.loc[("annual", pd.Timestamp("2024-09-30"))]
    assert quarter["revenue"] == pytest.approx(year["revenue"], rel=1e-9)
    assert quarter["net_income"] == pytest.approx(year["net_income"], rel=1e-9)
    assert quarter["eps"] == pytest.approx(year["eps"], abs=0.05)  # quarterly EPS are rounded to the cent
    quarters = raw("AAPL_quarterly_financials.csv").loc["Total Revenue", ["2024-12-31", "2024-09-30", "2024-06-30", "2024-03-31"]]
    assert aapl.loc[("quarterly", pd.Timestamp("2024-12-31")), "revenue"] == pytest.approx(quarters.sum())
    # Fewer than four quarters before it: no trailing year, the annual statement speaks for it.
    assert pd.isna(aapl.loc[("quarterly", pd.Timestamp("2024-06-30")), "revenue"])


def test_info_is_a_snapshot_of_the_fetch_day(aapl):
    info = json.loads((FIXTURES / "AAPL_info.json").read_text())
    snapshot = aapl.loc[("snapshot", RECORDED_ON)]
    assert snapshot["shares"] == info["sharesOutstanding"] and snapshot["eps"] == info["trailingEps"]
    assert snapshot["total_debt"] == info["totalDebt"] and pd.isna(snapshot["receivables"])


def test_point_in_time_and_no_split_in_apples_recent_years(aapl):
    table, splits = point_in_time(aapl.reset_index())
    assert splits.empty  # no split since 2020's 4-for-1: the share counts agree with info's
    quarter = table[(table["kind"] == "quarterly") & (table["period_end"] == "2024-12-31")].iloc[0]
    assert quarter["available_from"] == pd.Timestamp("2025-03-31")  # no filing date from Yahoo: period end + 90 days


def test_symbols_without_statements_or_whose_call_fails_are_reported_not_fatal():
    replay = RecordedTickers()
    fetch = YFinanceFundamentalsClient(replay, today=RECORDED_ON).fetch(["AAPL", "563GS2026.NS", "NOSUCH", "HDFCBANK.NS"])
    assert set(fetch.statements["symbol"]) == {"AAPL", "HDFCBANK.NS"}
    assert fetch.failures["563GS2026.NS"] == "Yahoo returned no statements and no share count"
    assert fetch.failures["NOSUCH"].startswith("statements download failed: ConnectionError") and "Could not resolve host" in fetch.failures["NOSUCH"]
    assert fetch.requested == 4


class RecordedSource(PriceSourceResource):
    """The real resource with only the two network calls replaced by replays of recorded responses."""

    prices: ClassVar[RecordedDownload]
    tickers: ClassVar[RecordedTickers]

    def download_function(self):
        return type(self).prices

    def ticker_data_function(self):
        return type(self).tickers


def yfinance(symbols, tickers=None, **config) -> PriceSourceResource:
    RecordedSource.prices = RecordedDownload()
    RecordedSource.tickers = tickers or RecordedTickers()
    return RecordedSource(kind="yfinance", symbols=symbols, benchmark_symbol=None, backoff_seconds=0.0, **config)


def test_a_run_stores_statements_point_in_time_and_reports_failures(definitions, tmp_path):
    db = tmp_path / "db.duckdb"
    source = yfinance(["AAPL", "RELIANCE.NS", "563GS2026.NS"])
    result = materialize(definitions, db, source, selection=ASSETS)
    assert result.success
    stored = read(db, "SELECT * FROM fundamentals")
    assert set(stored["symbol"]) == {"AAPL", "RELIANCE.NS"}
    assert (stored["available_from"] >= stored["period_end"]).all()
    metadata = materialization_metadata(result, "fundamentals")
    assert metadata["symbols_failed"].value == 1 and "563GS2026.NS" in table_text(metadata["failed_symbols"])
    # A symbol outside the bundled universe gets Yahoo's own sector and industry.
    universe = read(db, "SELECT * FROM universe").set_index("symbol")
    assert universe.loc["RELIANCE.NS", ["sector", "sub_industry"]].tolist() == ["Energy", "Oil & Gas Refining & Marketing"]
    assert universe.loc["AAPL", "sector"] == "Information Technology"  # the bundled GICS label where known


def test_statements_are_fetched_again_only_when_due(definitions, tmp_path):
    db = tmp_path / "db.duckdb"
    today = pd.Timestamp.today().normalize()
    first = RecordedTickers()
    materialize(definitions, db, yfinance(["AAPL"], first), selection=["fundamentals"])
    assert first.calls == ["AAPL"]
    again = RecordedTickers()
    before = stored_tables(db)
    assert materialize(definitions, db, yfinance(["AAPL"], again), selection=["fundamentals"]).success
    assert again.calls == []  # fetched today, due in 7 days
    assert_tables_unchanged(before, db)
    forced = RecordedTickers()
    materialize(definitions, db, yfinance(["AAPL"], forced, fundamentals_refresh_days=0), selection=["fundamentals"])
    assert forced.calls == ["AAPL"]
    assert read(db, "SELECT max(filed) f FROM fundamental_statements WHERE kind = 'snapshot'")["f"].item() == today


def test_when_every_statement_call_fails_the_stored_statements_stay(definitions, tmp_path):
    db = tmp_path / "db.duckdb"
    materialize(definitions, db, yfinance(["AAPL"]), selection=ASSETS)
    before = read(db, "SELECT * FROM fundamental_statements ORDER BY ALL")

    class Offline(RecordedTickers):
        def __call__(self, symbol):
            raise ConnectionError("Failed to perform, curl: (6) Could not resolve host: query2.finance.yahoo.com")

    result = materialize(definitions, db, yfinance(["AAPL"], Offline(), fundamentals_refresh_days=0), selection=["fundamentals"])
    metadata = materialization_metadata(result, "fundamentals")
    assert metadata["symbols_failed"].value == 1 and "Could not resolve host" in table_text(metadata["failed_symbols"])
    pd.testing.assert_frame_equal(read(db, "SELECT * FROM fundamental_statements ORDER BY ALL"), before)


class RelianceDownload:
    """``yfinance.download`` of RELIANCE.NS from its recorded history (fixtures: Yahoo's 2024-01-01 →
    2025-06-19 bars, adjusted for the 1:1 bonus, a 2-for-1 split, of 2024-10-28, "Stock Splits" 2.0
    that day). ``before_split=True`` answers as Yahoo did before the split was known: the days up to
    2024-10-25 on the old basis (prices × 2, volume ÷ 2), no split reported."""

    SPLIT_DAY = pd.Timestamp("2024-10-28")

    def __init__(self, before_split: bool):
        history = pd.read_csv(FIXTURES / "RELIANCE.NS_history.csv")
        history["Date"] = pd.to_datetime(history["Date"].str[:10])
        history = history.set_index("Date").drop(columns="symbol")
        if before_split:
            history = history[history.index < self.SPLIT_DAY].copy()
            history[["Open", "High", "Low", "Close"]] *= 2
            history["Volume"] //= 2
        self.history = history
        self.calls: list[pd.Timestamp] = []

    def __call__(self, tickers, start=None, group_by="column", **kwargs) -> pd.DataFrame:
        self.calls.append(pd.Timestamp(start))
        rows = self.history.loc[pd.Timestamp(start):]
        data = pd.concat({"RELIANCE.NS": rows}, axis=1, names=["Ticker", "Price"])
        return data.swaplevel(0, 1, axis=1) if group_by == "column" else data


def test_a_split_reported_by_yahoo_refetches_the_whole_history(definitions, tmp_path):
    """Stored days on the old basis, then Yahoo reports a split among the new days: the whole history is
    downloaded again (Yahoo's is on the new basis), so no day of the stored series jumps."""
    db = tmp_path / "db.duckdb"
    RecordedSource.tickers = RecordedTickers()
    RecordedSource.prices = RelianceDownload(before_split=True)
    source = RecordedSource(kind="yfinance", symbols=["RELIANCE.NS"], benchmark_symbol=None, backoff_seconds=0.0,
                            history_start="2024-01-01", fundamentals_refresh_days=10_000)
    assert materialize(definitions, db, source, selection=ASSETS).success
    assert read(db, "SELECT max(close) c FROM price_history WHERE date = DATE '2024-10-25'")["c"].item() == pytest.approx(2 * 1327.8499755859375)

    later = RelianceDownload(before_split=False)
    RecordedSource.prices = later
    result = materialize(definitions, db, source, selection=[*ASSETS, "benchmark_history"])
    assert result.success and later.calls == [pd.Timestamp("2024-10-26"), pd.Timestamp("2024-01-01")]  # new days, then all
    assert materialization_metadata(result, "price_history")["refetched_for_splits"].value == "RELIANCE.NS"
    stored = read(db, "SELECT date, close, volume FROM price_history ORDER BY date").set_index("date")
    recorded = later.history
    assert len(stored) == len(recorded) and stored["close"].to_numpy() == pytest.approx(recorded["Close"].to_numpy())
    assert stored["volume"].to_numpy() == pytest.approx(recorded["Volume"].to_numpy())
    assert {e.check_name: e for e in result.get_asset_check_evaluations()}["price_history_split_jumps"].passed
