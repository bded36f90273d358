"""The yfinance source on a recorded real response, and its failure paths through real Dagster runs."""

from typing import ClassVar

import pandas as pd
import pytest

from emergent_pipeline.defs.prices.resources import PriceSourceResource
from emergent_pipeline.sources.yfinance_source import YFinanceClient, download_to_long

from emergent_pipeline_tests.conftest import failure_message, materialize, read, table_text
from emergent_pipeline_tests.yfinance_replay import RECORDED_TICKERS, RecordedDownload, load_recorded

PRICE_ASSETS = ["universe", "price_history"]


class RecordedPriceSource(PriceSourceResource):
    """The real resource, with only the network call replaced by the replay."""

    replay: ClassVar[RecordedDownload]

    def download_function(self):
        return type(self).replay


def yfinance_source(replay: RecordedDownload, symbols=RECORDED_TICKERS) -> PriceSourceResource:
    RecordedPriceSource.replay = replay
    return RecordedPriceSource(kind="yfinance", symbols=list(symbols), benchmark_symbol=None, backoff_seconds=0.0)


def stored_prices(db) -> pd.DataFrame:
    return read(db, "SELECT * FROM price_history ORDER BY symbol, date")


def metadata_of(result, asset="price_history"):
    return next(
        e.materialization.metadata for e in result.get_asset_materialization_events()
        if e.asset_key.to_user_string() == asset
    )


@pytest.mark.parametrize("group_by", ["column", "ticker"])
def test_adapter_reads_the_recorded_download_in_either_layout(group_by):
    data = RecordedDownload()(list(RECORDED_TICKERS), group_by=group_by)
    long = download_to_long(data, RECORDED_TICKERS)
    recorded = load_recorded()
    assert len(long) == 3 * len(recorded)
    aapl = long[long["symbol"] == "AAPL"].set_index("date")
    assert aapl["close"].to_numpy() == pytest.approx(recorded[("Close", "AAPL")].to_numpy())
    assert aapl["volume"].iloc[0] == recorded[("Volume", "AAPL")].iloc[0] == 112117500
    assert list(long.columns) == ["symbol", "date", "open", "high", "low", "close", "volume"]


def test_client_batches_and_reports_a_ticker_yahoo_did_not_return():
    replay = RecordedDownload()
    fetch = YFinanceClient(download=replay, batch_size=2, backoff_seconds=0).fetch(
        ["AAPL", "GOOGL", "TSLA", "NOSUCH"], pd.Timestamp("2023-06-01")
    )
    assert [c["tickers"] for c in replay.calls] == [["AAPL", "GOOGL"], ["TSLA", "NOSUCH"]]
    assert fetch.failures == {"NOSUCH": "no bars returned"}
    assert fetch.raw["date"].min() == pd.Timestamp("2023-06-01")
    assert replay.calls[0]["auto_adjust"] is False and replay.calls[0]["progress"] is False


def test_a_full_run_stores_the_recorded_bars(definitions, tmp_path):
    db = tmp_path / "db.duckdb"
    result = materialize(definitions, db, yfinance_source(RecordedDownload()))
    assert result.success
    prices = stored_prices(db)
    assert len(prices) == 3 * 124 and set(prices["symbol"]) == set(RECORDED_TICKERS)
    # Sector and name come from the bundled universe for known symbols.
    universe = read(db, "SELECT symbol, sector FROM universe ORDER BY symbol")
    assert universe.set_index("symbol").loc["AAPL", "sector"] == "Information Technology"
    # A live source is judged against today: a 2023 recording is stale, and the check says so.
    freshness = {e.check_name: e for e in result.get_asset_check_evaluations()}["price_history_freshness"]
    assert not freshness.passed


def test_only_missing_days_are_fetched_and_appended(definitions, tmp_path):
    db = tmp_path / "db.duckdb"
    materialize(definitions, db, yfinance_source(RecordedDownload(until="2023-03-31")), selection=PRICE_ASSETS)
    first = stored_prices(db)
    assert first["date"].max() == pd.Timestamp("2023-03-31")

    replay = RecordedDownload()
    result = materialize(definitions, db, yfinance_source(replay), selection=PRICE_ASSETS)
    assert [c["start"] for c in replay.calls] == ["2023-04-01"]  # one batch, from the day after the newest bar
    second = stored_prices(db)
    assert len(second) == 3 * 124
    pd.testing.assert_frame_equal(second[second["date"] <= "2023-03-31"].reset_index(drop=True), first)
    assert metadata_of(result)["rows_added"].value == len(second) - len(first)


def test_a_download_that_keeps_failing_fails_the_run_and_keeps_history(definitions, tmp_path):
    db = tmp_path / "db.duckdb"
    materialize(definitions, db, yfinance_source(RecordedDownload(until="2023-03-31")), selection=PRICE_ASSETS)
    before = stored_prices(db)

    replay = RecordedDownload(fail_times=99)
    result = materialize(definitions, db, yfinance_source(replay), selection=PRICE_ASSETS, raise_on_error=False)
    assert not result.success
    assert len(replay.calls) == 3  # max_attempts tries with backoff, then give up
    message = failure_message(result)
    assert "every one of the 3 requested symbols failed" in message and "Could not resolve host" in message
    pd.testing.assert_frame_equal(stored_prices(db), before)


def test_a_transient_error_is_retried(definitions, tmp_path):
    db = tmp_path / "db.duckdb"
    replay = RecordedDownload(fail_times=2)
    assert materialize(definitions, db, yfinance_source(replay), selection=PRICE_ASSETS).success
    assert len(replay.calls) == 3 and len(stored_prices(db)) == 3 * 124


def test_an_empty_frame_adds_nothing_and_keeps_history(definitions, tmp_path):
    db = tmp_path / "db.duckdb"
    materialize(definitions, db, yfinance_source(RecordedDownload(until="2023-03-31")), selection=PRICE_ASSETS)
    before = stored_prices(db)

    result = materialize(definitions, db, yfinance_source(RecordedDownload(empty=True)), selection=PRICE_ASSETS)
    assert result.success  # nothing new (a holiday, say) is not a failure of the run ...
    metadata = metadata_of(result)
    assert metadata["rows_added"].value == 0 and metadata["symbols_failed"].value == 3  # ... but it is reported
    pd.testing.assert_frame_equal(stored_prices(db), before)


def test_an_empty_frame_with_nothing_stored_fails_clearly(definitions, tmp_path):
    result = materialize(
        definitions, tmp_path / "db.duckdb", yfinance_source(RecordedDownload(empty=True)),
        selection=PRICE_ASSETS, raise_on_error=False,
    )
    assert not result.success
    assert "no usable price row" in failure_message(result)


def test_some_symbols_missing_are_reported_and_the_rest_stored(definitions, tmp_path):
    db = tmp_path / "db.duckdb"
    materialize(definitions, db, yfinance_source(RecordedDownload(until="2023-03-31")), selection=PRICE_ASSETS)
    before = stored_prices(db)

    source = yfinance_source(RecordedDownload(), symbols=[*RECORDED_TICKERS, "NOSUCH"])
    result = materialize(definitions, db, source, selection=PRICE_ASSETS)
    metadata = metadata_of(result)
    assert metadata["symbols_failed"].value == 1 and "NOSUCH" in table_text(metadata["failed_symbols"])
    after = stored_prices(db)
    assert len(after) == 3 * 124
    pd.testing.assert_frame_equal(after[after["date"] <= "2023-03-31"].reset_index(drop=True), before)
