"""The whole graph materialized on the bundled data into a temporary DuckDB file."""

import pandas as pd

from emergent_pipeline.core.price_quality import extreme_moves
from emergent_pipeline.sources.bundled import PRICES_FILE, load_bundled_fundamentals

from emergent_pipeline_tests.conftest import read, table_text


def test_every_table_is_stored_with_the_expected_rows(bundled_db):
    counts = read(
        bundled_db,
        "SELECT (SELECT count(*) FROM universe) u, (SELECT count(*) FROM price_history) p, "
        "(SELECT count(DISTINCT symbol) FROM price_history) s, (SELECT count(DISTINCT symbol) FROM fundamentals) f, "
        "(SELECT count(*) FROM market_context) m, (SELECT count(*) FROM price_rejections) r",
    ).iloc[0]
    assert counts["u"] == 505 and counts["s"] == 505 and counts["f"] == 505  # every symbol has the 2018 snapshot
    # 619,040 rows in the panel; 12 bars do not fit their own range and are rejected (see below).
    assert counts["p"] == 619_028 and counts["r"] == 12
    assert counts["m"] == 4_806  # one row per index day, 1999-01-04 -> 2018-02-07


def test_price_history_schema_and_a_known_bar(bundled_db):
    bar = read(bundled_db, "SELECT * FROM price_history WHERE symbol = 'A' AND date = DATE '2013-02-08'")
    assert bar[["open", "high", "low", "close", "volume"]].iloc[0].tolist() == [45.07, 45.35, 45.0, 45.08, 1824755]
    types = read(bundled_db, "DESCRIBE price_history").set_index("column_name")["column_type"]
    assert types["date"] == "DATE" and types["close"] == "DOUBLE"


def test_rejected_rows_are_kept_with_their_reason(bundled_db):
    panel = pd.read_parquet(PRICES_FILE)
    inverted = panel["high"] < panel["low"]
    # A missing open is no rejection (the close is still a print): NaN compares False here.
    outside = (panel["open"] < panel["low"]) | (panel["open"] > panel["high"]) | (panel["close"] < panel["low"]) | (panel["close"] > panel["high"])
    expected = {(r.symbol, f"{r.date:%Y-%m-%d}", "high below low") for r in panel[inverted].itertuples()}
    expected |= {(r.symbol, f"{r.date:%Y-%m-%d}", "open or close outside the bar's low-high range") for r in panel[outside & ~inverted].itertuples()}
    rejected = read(bundled_db, "SELECT symbol, date, reason, source FROM price_rejections")
    assert set(zip(rejected["symbol"], rejected["date"], rejected["reason"])) == expected and len(expected) == 12
    assert ("AOS", "2014-05-19", "high below low") in expected and set(rejected["source"]) == {"bundled"}


def test_fundamentals_are_point_in_time_and_52_week_columns_are_fixed(bundled_db):
    table = read(bundled_db, "SELECT * FROM fundamentals")
    annual, snapshot = table[table["kind"] == "annual"], table[table["kind"] == "snapshot"]
    assert (annual["available_from"] == annual["period_end"] + pd.Timedelta(days=90)).all()
    assert set(snapshot["available_from"]) == {pd.Timestamp("2018-02-08")} and len(snapshot) == 505
    assert (table["usable_until"] == table["available_from"] + pd.DateOffset(months=15)).all()
    statements = read(bundled_db, "SELECT count(*) n, count(DISTINCT symbol) s FROM fundamental_statements WHERE kind = 'annual'").iloc[0]
    assert statements["s"] == 423  # the annual statements cover 423 of the 505 symbols
    raw = load_bundled_fundamentals().dropna(subset=["week52_low", "week52_high"])
    assert (raw["week52_low"] <= raw["week52_high"]).all()


def test_universe_has_sectors_and_market_caps(bundled_db):
    universe = read(bundled_db, "SELECT * FROM universe")
    assert universe["sector"].nunique() == 11
    assert universe["sub_industry"].isna().sum() == 129
    assert universe.set_index("symbol").loc["AAPL", "sector"] == "Information Technology"
    assert universe["market_cap"].notna().mean() > 0.95


def test_checks_pass_or_warn_with_the_known_real_quirks(bundled_run):
    db_path, result = bundled_run
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert evaluations["price_history_unique_keys"].passed
    assert evaluations["price_history_positive_prices"].passed
    assert not evaluations["price_history_extreme_moves"].passed
    assert not evaluations["price_history_ohlc_consistency"].passed
    moves = read(db_path, "SELECT * FROM price_history")
    found = {(r.symbol, f"{r.date:%Y-%m-%d}") for r in extreme_moves(moves).itertuples()}
    for known in [("EBAY", "2015-07-20"), ("BAX", "2015-07-01"), ("NI", "2015-07-02")]:  # spin-offs, real moves
        assert known in found
    assert ("DISCA", "2014-08-07") not in found  # its split is adjusted (see test_failures)
    shown = table_text(evaluations["price_history_extreme_moves"].metadata["rows"])
    assert "EBAY" in shown and "BAX" in shown  # the rows are in the check's metadata
    # Stale check: a fixed panel is judged against its own last day; symbols that stopped trading show.
    assert evaluations["price_history_freshness"].metadata["reference_date"].value == "2018-02-07"
    # Every asset was materialized: WARN checks do not block downstream.
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert {"universe", "price_history", "fundamentals", "benchmark_history", "market_context", "strategy_signals", "consensus_signals", "shariah_screen"} <= materialized


def test_market_context_metadata_has_the_regime_chart(bundled_run):
    _, result = bundled_run
    event = next(e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == "market_context")
    chart = event.materialization.metadata["regime_chart"].value
    assert chart.startswith("![benchmark with regimes](data:image/png;base64,iVBOR")  # a PNG
