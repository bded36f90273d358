"""The `file` source through real Dagster runs: column mapping, row-level rejections, failures."""

from pathlib import Path

import pandas as pd
import pytest

from emergent_pipeline.defs.prices.resources import PriceSourceResource
from emergent_pipeline.sources.bundled import ANNUAL_FILE, PRICES_FILE, UNIVERSE_FILE

from emergent_pipeline_tests.bundled_inputs import STATEMENT_MAP
from emergent_pipeline_tests.conftest import (
    assert_tables_unchanged, failure_message, materialization_metadata, materialize, read, stored_tables, table_rows, table_text,
)

COLUMN_MAP = {"Ticker": "symbol", "Day": "date", "O": "open", "H": "high", "L": "low", "C": "close", "Vol": "volume"}
PRICE_ASSETS = ["universe", "price_history"]


def user_file(tmp_path: Path, rows: pd.DataFrame, name: str = "prices.csv") -> Path:
    path = tmp_path / name
    renamed = rows.rename(columns={v: k for k, v in COLUMN_MAP.items()})
    renamed.to_csv(path, index=False) if path.suffix == ".csv" else renamed.to_parquet(path)
    return path


@pytest.fixture(scope="module")
def real_rows() -> pd.DataFrame:
    """300 real days of three bundled symbols, with the date as text as a CSV would have it."""
    panel = pd.read_parquet(PRICES_FILE)
    rows = panel[panel["symbol"].isin(["AAPL", "MSFT", "XOM"])].groupby("symbol").tail(300)
    return rows.assign(date=rows["date"].dt.strftime("%Y-%m-%d")).reset_index(drop=True)


def source(path: Path) -> PriceSourceResource:
    return PriceSourceResource(kind="file", path=str(path), column_map=COLUMN_MAP)


def test_a_mapped_csv_loads_and_bad_rows_are_rejected_with_reasons(definitions, tmp_path, real_rows):
    bad = pd.DataFrame(
        [
            ["AAPL", "31/31/2017", 1, 2, 0.5, 1.5, 10],
            ["MSFT", "2017-12-29", -5, 2, 1, 1.5, 10],
            ["XOM", "2017-12-29", 80, 79, 81, 80, 10],
        ],
        columns=real_rows.columns,
    )
    rows = pd.concat([real_rows, bad, real_rows.iloc[[0]]], ignore_index=True)  # plus one duplicate
    db = tmp_path / "db.duckdb"
    result = materialize(definitions, db, source(user_file(tmp_path, rows)))
    assert result.success

    stored = read(db, "SELECT * FROM price_history")
    assert len(stored) == len(real_rows) and set(stored["symbol"]) == {"AAPL", "MSFT", "XOM"}
    rejected = read(db, "SELECT symbol, reason FROM price_rejections ORDER BY symbol, reason")
    assert rejected.values.tolist() == [
        ["AAPL", "duplicate (symbol, date)"] if real_rows.iloc[0]["symbol"] == "AAPL" else ["AAPL", "unparseable date"],
        *([["AAPL", "unparseable date"]] if real_rows.iloc[0]["symbol"] == "AAPL" else []),
        ["MSFT", "non-positive price"],
        ["XOM", "high below low"],
    ]
    metadata = next(
        e.materialization.metadata for e in result.get_asset_materialization_events()
        if e.asset_key.to_user_string() == "price_history"
    )
    assert metadata["rows_rejected"].value == 4
    assert {r["reason"]: r["rows"] for r in table_rows(metadata["rejections_by_reason"])} == {
        "unparseable date": 1, "non-positive price": 1, "high below low": 1, "duplicate (symbol, date)": 1
    }
    assert "31/31/2017" in table_text(metadata["rejected_rows"])  # the offending row itself is shown
    # No benchmark file configured: market context comes from the universe's equal-weight index.
    origin = next(
        e.materialization.metadata["origin"].value for e in result.get_asset_materialization_events()
        if e.asset_key.to_user_string() == "benchmark_history"
    )
    assert origin == "the universe's equal-weight index"
    # Three symbols give too few consensus signals to learn from: the run still succeeds and says why.
    scorer = materialization_metadata(result, "signal_model")
    assert scorer["decision"].value == "not trained" and "resolved consensus signals" in scorer["reason"].value
    assert read(db, "SELECT DISTINCT ml_status FROM ml_enhanced_signals")["ml_status"].tolist() in ([], ["unscored"])
    assert materialization_metadata(result, "performance_summary")["verdict"].value.startswith("not computed")


def test_parquet_with_plain_names_needs_no_mapping(definitions, tmp_path, real_rows):
    path = tmp_path / "prices.parquet"
    real_rows.rename(columns=str.title).to_parquet(path)  # Symbol, Date, Open, ...: matched case-insensitively
    db = tmp_path / "db.duckdb"
    materialize(definitions, db, PriceSourceResource(kind="file", path=str(path)), selection=PRICE_ASSETS)
    assert read(db, "SELECT count(*) n FROM price_history")["n"].item() == len(real_rows)


def test_a_file_with_no_usable_row_fails_and_leaves_stored_history_intact(definitions, tmp_path, real_rows):
    db = tmp_path / "db.duckdb"
    materialize(definitions, db, source(user_file(tmp_path, real_rows)), selection=PRICE_ASSETS)
    before = read(db, "SELECT * FROM price_history ORDER BY symbol, date")

    hopeless = real_rows.head(5).assign(date="not a date")
    result = materialize(
        definitions, db, source(user_file(tmp_path, hopeless, "bad.csv")), selection=PRICE_ASSETS, raise_on_error=False
    )
    assert not result.success
    message = failure_message(result)
    assert "no usable price row" in message and "unparseable date" in message
    pd.testing.assert_frame_equal(read(db, "SELECT * FROM price_history ORDER BY symbol, date"), before)


def test_a_missing_file_is_a_clear_error(definitions, tmp_path):
    result = materialize(
        definitions, tmp_path / "db.duckdb", source(tmp_path / "nope.csv"), selection=PRICE_ASSETS, raise_on_error=False
    )
    assert not result.success
    assert "does not exist" in failure_message(result)


def test_missing_columns_are_named_in_the_error(definitions, tmp_path, real_rows):
    path = tmp_path / "prices.csv"
    real_rows.drop(columns="close").to_csv(path, index=False)
    result = materialize(
        definitions, tmp_path / "db.duckdb", PriceSourceResource(kind="file", path=str(path)),
        selection=["price_history"], raise_on_error=False,
    )
    assert "lacks the column(s) ['close']" in failure_message(result)


def test_a_file_source_without_a_path_is_a_clear_error(definitions, tmp_path):
    result = materialize(definitions, tmp_path / "db.duckdb", PriceSourceResource(kind="file"), selection=PRICE_ASSETS, raise_on_error=False)
    assert not result.success
    assert "no path is configured" in failure_message(result)


# --- a universe file and a statements file, each with its own column names ------------------------------

UNIVERSE_MAP = {"Ticker": "symbol", "Company": "name", "GICS Sector": "sector", "GICS Sub Industry": "sub_industry"}


def companion_files(tmp_path: Path, symbols=("AAPL", "MSFT", "XOM")) -> tuple[Path, Path]:
    """The real annual statements and universe rows of ``symbols``, saved under other names, as a
    user's own files would have them."""
    statements = pd.read_csv(ANNUAL_FILE, index_col=0)
    statements_path = tmp_path / "statements.csv"
    statements[statements["Ticker Symbol"].isin(symbols)].to_csv(statements_path, index=False)
    universe = pd.read_csv(UNIVERSE_FILE)
    universe_path = tmp_path / "universe.csv"
    universe[universe["symbol"].isin(symbols)].rename(columns={v: k for k, v in UNIVERSE_MAP.items()}).to_csv(universe_path, index=False)
    return statements_path, universe_path


def full_source(prices: Path, statements: Path, universe: Path) -> PriceSourceResource:
    return PriceSourceResource(
        kind="file", path=str(prices), column_map=COLUMN_MAP, universe_path=str(universe), universe_column_map=UNIVERSE_MAP,
        fundamentals_path=str(statements), fundamentals_column_map=STATEMENT_MAP,
    )


@pytest.fixture(scope="module")
def five_years() -> pd.DataFrame:
    panel = pd.read_parquet(PRICES_FILE)
    return panel[panel["symbol"].isin(["AAPL", "MSFT", "XOM"])].reset_index(drop=True)


def test_statements_and_universe_files_feed_fundamentals_and_the_shariah_screen(definitions, tmp_path, five_years):
    statements, universe = companion_files(tmp_path)
    db = tmp_path / "db.duckdb"
    result = materialize(definitions, db, full_source(user_file(tmp_path, five_years), statements, universe),
                         selection=["universe", "price_history", "fundamentals", "shariah_screen"])
    assert result.success
    stored = read(db, "SELECT * FROM fundamentals WHERE symbol = 'AAPL'").set_index("period_end")
    # The user's Estimated Shares Outstanding (net income / EPS) shows Apple's 7-for-1 split of 2014.
    assert stored.loc["2013-09-28", "split_factor"] == 7.0 and stored.loc["2013-09-28", "eps"] == pytest.approx(40.03 / 7)
    members = read(db, "SELECT * FROM universe").set_index("symbol")
    assert members.loc["XOM", ["name", "sector"]].tolist() == ["Exxon Mobil Corp.", "Energy"]
    screen = read(db, "SELECT status, count(*) n FROM shariah_screen WHERE symbol = 'AAPL' GROUP BY 1").set_index("status")["n"]
    assert screen.get("COMPLIANT", 0) > 250  # a year and more of usable statements, with low debt
    assert materialization_metadata(result, "universe")["sector_warning"].value == "every symbol has a sector"


def test_a_universe_without_sectors_says_what_cannot_work(definitions, tmp_path, real_rows):
    path = tmp_path / "members.csv"
    pd.DataFrame({"Ticker": ["AAPL", "MSFT", "XOM"]}).to_csv(path, index=False)
    result = materialize(definitions, tmp_path / "db.duckdb", PriceSourceResource(
        kind="file", path=str(user_file(tmp_path, real_rows)), column_map=COLUMN_MAP, universe_path=str(path),
        universe_column_map={"Ticker": "symbol"}), selection=["universe", "price_history", "fundamentals", "shariah_screen"])
    warning = materialization_metadata(result, "universe")["sector_warning"].value
    assert warning.startswith("3 of 3 symbols have no sector") and "sector_rotation" in warning and "activity screen" in warning
    assert materialization_metadata(result, "shariah_screen")["activity_screen"].value.startswith("could not run")


@pytest.mark.parametrize("case, expected", [
    ("empty_file", "fundamentals file {path} cannot be read: EmptyDataError"),
    ("no_period", "needs a symbol column and a period_end or filed column"),
    ("bad_date", "unreadable period_end (e.g. 'last year')"),
    ("nothing_we_read", "has no column the pipeline reads"),
])
def test_a_malformed_statements_file_fails_clearly_and_changes_nothing(definitions, tmp_path, five_years, case, expected):
    statements, universe = companion_files(tmp_path)
    db = tmp_path / "db.duckdb"
    good = full_source(user_file(tmp_path, five_years), statements, universe)
    assert materialize(definitions, db, good, selection=["universe", "price_history", "fundamentals", "shariah_screen"]).success
    before = stored_tables(db)

    bad = tmp_path / "bad.csv"
    frame = pd.read_csv(statements)
    if case == "empty_file":
        bad.write_text("")
    elif case == "no_period":
        frame.drop(columns="Period Ending").to_csv(bad, index=False)
    elif case == "bad_date":
        frame.assign(**{"Period Ending": "last year"}).to_csv(bad, index=False)
    else:
        frame[["Ticker Symbol", "Period Ending", "For Year"]].to_csv(bad, index=False)
    result = materialize(definitions, db, full_source(user_file(tmp_path, five_years), bad, universe),
                         selection=["fundamentals", "shariah_screen"], raise_on_error=False)
    assert not result.success
    message = failure_message(result)
    assert message.startswith("nothing stored, every table kept as it was: ") and expected.format(path=bad) in message
    assert_tables_unchanged(before, db)


def test_a_universe_file_without_a_symbol_column_fails_clearly(definitions, tmp_path, real_rows):
    path = tmp_path / "members.csv"
    pd.DataFrame({"Code": ["AAPL"], "Sector": ["Information Technology"]}).to_csv(path, index=False)
    db = tmp_path / "db.duckdb"
    materialize(definitions, db, source(user_file(tmp_path, real_rows)), selection=PRICE_ASSETS)
    before = stored_tables(db)
    result = materialize(definitions, db, PriceSourceResource(kind="file", path=str(user_file(tmp_path, real_rows)), column_map=COLUMN_MAP,
                                                              universe_path=str(path)), selection=["universe"], raise_on_error=False)
    assert not result.success
    assert f"universe file {path} has no symbol column (map it with universe_column_map)" in failure_message(result)
    assert_tables_unchanged(before, db)


@pytest.mark.parametrize("content, named", [
    ("symbol,ex_date\nAAPL,2014-06-09\n", "the corporate-actions file has no column ratio"),
    ("symbol,ex_date,ratio\nAAPL,2014-06-09,seven\n", "1 row(s) without a date or a ratio other than 1 (row 2)"),
    (None, "corporate-actions file {path} does not exist"),
])
def test_a_bad_corporate_actions_file_changes_nothing_and_says_why(definitions, tmp_path, real_rows, content, named):
    db = tmp_path / "db.duckdb"
    prices = user_file(tmp_path, real_rows)
    assert materialize(definitions, db, source(prices), selection=PRICE_ASSETS).success
    before = stored_tables(db)
    actions = tmp_path / "actions.csv"
    if content is not None:
        actions.write_text(content)
    result = materialize(definitions, db, PriceSourceResource(kind="file", path=str(prices), column_map=COLUMN_MAP,
                                                              corporate_actions_path=str(actions)), selection=PRICE_ASSETS, raise_on_error=False)
    assert not result.success
    message = failure_message(result)
    assert message.startswith("nothing stored, every table kept as it was: ") and named.format(path=actions) in message
    assert_tables_unchanged(before, db)
