"""The serving snapshot is rewritten only where the change log says the store changed, and always
equals the store's tables: a real DuckDB store and a real snapshot file, small hand-made tables."""

from pathlib import Path

import duckdb
import pandas as pd
import pytest

from emergent_pipeline import changes
from emergent_pipeline.snapshot import publish_snapshot
from emergent_pipeline.storage import write_rows

TABLES = ["prices", "summary"]
LOGGED_BY = {"prices": "source"}
DAYS = pd.bdate_range("2024-01-01", periods=10)


def store(path: Path) -> duckdb.DuckDBPyConnection:
    """Two symbols over ten days, and a short summary table, written whole and logged so."""
    conn = duckdb.connect(str(path))
    prices = pd.DataFrame({"symbol": ["A", "B"] * len(DAYS), "date": DAYS.repeat(2).date, "close": range(2 * len(DAYS))})
    conn.register("frame", prices)
    conn.execute("CREATE TABLE prices AS SELECT * FROM frame")
    conn.execute("CREATE TABLE summary AS SELECT 1 AS trades")
    changes.log_change(conn, "source", None, whole=True)
    return conn


def same(conn: duckdb.DuckDBPyConnection, target: Path) -> None:
    with duckdb.connect(str(target), read_only=True) as snapshot:
        for table in TABLES:
            query = f"SELECT * FROM {table} ORDER BY ALL"
            pd.testing.assert_frame_equal(snapshot.execute(query).df(), conn.execute(query).df())


@pytest.fixture
def published(tmp_path):
    conn, target = store(tmp_path / "store.duckdb"), tmp_path / "serving.duckdb"
    first = publish_snapshot(conn, TABLES, str(target), LOGGED_BY)
    yield conn, target, first
    conn.close()


def test_the_first_publication_copies_everything(published):
    conn, target, first = published
    assert first.written == first.rows == {"prices": 20, "summary": 1}
    same(conn, target)


def test_a_new_day_rewrites_only_that_day_of_a_logged_table_and_the_short_tables_whole(published):
    conn, target, _ = published
    new_day = pd.Timestamp("2024-01-15")
    conn.execute("INSERT INTO prices VALUES ('A', ?, 100), ('B', ?, 101)", [new_day.date(), new_day.date()])
    conn.execute("UPDATE summary SET trades = 2")
    changes.log_change(conn, "source", new_day, whole=False)
    second = publish_snapshot(conn, TABLES, str(target), LOGGED_BY)
    assert second.written == {"prices": 2, "summary": 1} and second.rows == {"prices": 22, "summary": 1}
    same(conn, target)
    assert publish_snapshot(conn, TABLES, str(target), LOGGED_BY).written["prices"] == 0  # nothing changed since


def test_a_table_rewritten_whole_is_copied_whole(published):
    conn, target, _ = published
    conn.execute("UPDATE prices SET close = close * 2")
    changes.log_change(conn, "source", None, whole=True)
    assert publish_snapshot(conn, TABLES, str(target), LOGGED_BY).written["prices"] == 20
    same(conn, target)


def test_a_snapshot_of_another_store_or_an_unreadable_one_is_replaced_whole(published, tmp_path):
    conn, target, _ = published
    other = store(tmp_path / "other.duckdb")  # its own change log: the same versions, other entries
    other.execute("UPDATE prices SET close = -close")
    assert publish_snapshot(other, TABLES, str(target), LOGGED_BY).written["prices"] == 20
    same(other, target)
    other.close()
    target.write_bytes(b"not a database")
    assert publish_snapshot(conn, TABLES, str(target), LOGGED_BY).written["prices"] == 20
    same(conn, target)


def test_a_publication_that_fails_midway_leaves_the_snapshot_in_place(published, tmp_path):
    """The first tables are written to the staging copy, then a bad name stops it: the snapshot in
    place is the one published before, and no staging file is left."""
    conn, target, _ = published
    before = target.read_bytes()
    new_day = pd.Timestamp("2024-01-15")
    conn.execute("INSERT INTO prices VALUES ('A', ?, 100)", [new_day.date()])
    changes.log_change(conn, "source", new_day, whole=False)
    with pytest.raises(ValueError, match="invalid table name 'no such; table'"):
        publish_snapshot(conn, [*TABLES, "no such; table"], str(target), LOGGED_BY)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".serving")] == []


def test_a_column_a_newer_version_adds_reaches_the_store_and_the_snapshot(published):
    conn, target, _ = published
    new_day = pd.Timestamp("2024-01-15")
    # A newer version writes rows with a column the stored table (written by an older one) lacks: first
    # without a value (no type yet: left out, not added as DuckDB's untyped NULL), then with one.
    write_rows(conn, "prices", pd.DataFrame({"symbol": ["B"], "date": [new_day], "close": [101], "basis": [None]}), create=False)
    assert "basis" not in conn.execute("SELECT * FROM prices LIMIT 0").df().columns
    fresh = pd.DataFrame({"symbol": ["A"], "date": [new_day], "close": [100], "basis": ["why"]})
    write_rows(conn, "prices", fresh, create=False)
    stored = conn.execute("SELECT symbol, date, basis FROM prices ORDER BY date, symbol DESC").df()
    assert stored["basis"].iloc[-1] == "why" and stored["basis"].iloc[:-1].isna().all()  # the other rows: empty
    changes.log_change(conn, "source", new_day, whole=False)
    # Only a day changed, but the snapshot's table lacks the column: it is copied whole.
    assert publish_snapshot(conn, TABLES, str(target), LOGGED_BY).written["prices"] == 22
    same(conn, target)
