"""Reading and writing the pipeline's DuckDB tables.

Tables are named after the assets. A table is always replaced inside one transaction, so a run that
fails half-way leaves the previous version whole, and a reader never sees a half-written table.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pandas as pd

from emergent_pipeline.paths import PROJECT_ROOT, default_db_path, process_alive, serving_db_path  # noqa: F401 - re-exported

DATE_COLUMNS = (
    "date", "as_of", "last_date", "period_end", "filed", "available_from", "usable_until", "shares_from_period_end",
    "statement_period_end", "after", "until", "issued_on", "model_label_end", "point", "entry_date", "exit_date", "horizon_end", "live_until",
)
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def remove_abandoned_staging(target: str) -> list[Path]:
    """Staging files of a snapshot publication whose process is gone (a killed run): removed."""
    target_path = Path(target).expanduser()
    removed = []
    for leftover in target_path.parent.glob(f".{target_path.name}.*.tmp*"):
        pid = leftover.name.removeprefix(f".{target_path.name}.").split(".")[0]
        if pid.isdigit() and int(pid) != os.getpid() and not process_alive(int(pid)):
            leftover.unlink(missing_ok=True)
            removed.append(leftover)
    return removed


def ensure_parent_dir(db_path: str) -> None:
    """DuckDB creates the file but not its folder."""
    if db_path != ":memory:":
        Path(db_path).expanduser().parent.mkdir(parents=True, exist_ok=True)


def checked_identifier(name: str) -> str:
    if not _IDENTIFIER.match(name):
        raise ValueError(f"invalid table name {name!r}")
    return name


def table_exists(conn: duckdb.DuckDBPyConnection, name: str) -> bool:
    # this database's tables only: an attached one (the snapshot being published) has a schema 'main' too
    query = "SELECT count(*) FROM information_schema.tables WHERE table_name = ? AND table_schema = 'main' AND table_catalog = current_database()"
    return conn.execute(query, [name]).fetchall()[0][0] > 0  # fetched whole: no result left open on the connection


def read_table(conn: duckdb.DuckDBPyConnection, name: str, since: pd.Timestamp | None = None,
               until: pd.Timestamp | None = None, columns: list[str] | None = None,
               without: list[str] | None = None) -> pd.DataFrame | None:
    """The table as a DataFrame (only its rows dated from ``since`` to ``until``, only ``columns``,
    and not the columns ``without``, when given), or None when it does not exist yet."""
    if not table_exists(conn, name):
        return None
    bounds = [("date >= ?", since), ("date <= ?", until)]
    where = " AND ".join(condition for condition, day in bounds if day is not None)
    if columns:
        selected = ", ".join(f'"{checked_identifier(c)}"' for c in columns)
    else:
        selected = "*" + (f" EXCLUDE ({', '.join(chr(34) + checked_identifier(c) + chr(34) for c in without)})" if without else "")
    frame = conn.execute(f"SELECT {selected} FROM {checked_identifier(name)}" + (f" WHERE {where}" if where else ""),
                         [pd.Timestamp(day).date() for _, day in bounds if day is not None]).df()
    # DuckDB hands DATE back as datetime64[us]; the core works in [ns], as pandas parses dates.
    for column in frame.columns:
        if pd.api.types.is_datetime64_any_dtype(frame[column]):
            frame[column] = frame[column].astype("datetime64[ns]")
    return frame


def _staged_select(frame: pd.DataFrame) -> str:
    """SELECT of the registered frame ``staged``, with :data:`DATE_COLUMNS` cast to DATE."""
    casts = [f"CAST({c} AS DATE) AS {c}" for c in DATE_COLUMNS
             if c in frame.columns and pd.api.types.is_datetime64_any_dtype(frame[c])]
    return f"SELECT * REPLACE ({', '.join(casts)}) FROM staged" if casts else "SELECT * FROM staged"


def write_rows(conn: duckdb.DuckDBPyConnection, name: str, frame: pd.DataFrame, create: bool) -> None:
    """Create table ``name`` from ``frame`` (``create``), or append the frame's rows to it by column
    name. No transaction of its own: the caller's transaction holds it."""
    conn.register("staged", frame)
    try:
        if create:
            conn.execute(f"CREATE OR REPLACE TABLE {checked_identifier(name)} AS {_staged_select(frame)}")
        else:
            insert_by_name(conn, name, f"({_staged_select(frame)})")
    finally:
        conn.unregister("staged")


def insert_by_name(conn: duckdb.DuckDBPyConnection, name: str, source: str) -> None:
    """Append the rows of ``source`` (a table or a parenthesised query) to table ``name`` by column
    name, the table first taking the typed columns it lacks (:func:`add_new_columns`)."""
    untyped = add_new_columns(conn, name, source)
    left_out = f"EXCLUDE ({', '.join(untyped)}) " if untyped else ""
    conn.execute(f"INSERT INTO {checked_identifier(name)} BY NAME SELECT * {left_out}FROM {source}")


def columns_of(conn: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    """The column names of ``table`` (which may name a schema: ``snapshot.prices``), in order."""
    return [row[0] for row in conn.execute(f"DESCRIBE {table}").fetchall()]


def add_new_columns(conn: duckdb.DuckDBPyConnection, name: str, source: str) -> list[str]:
    """Add to table ``name`` the columns ``source`` (a table or a parenthesised query) has and it has
    not, with their types: a store written by an earlier version takes a column a newer one adds,
    empty on its older rows, instead of refusing every later write. A new column with no value yet
    has no type (DuckDB's NULL, which no later value could be cast to): it is not added now, and its
    name is returned for the caller to leave out of this write (a later write with values adds it)."""
    have = set(columns_of(conn, checked_identifier(name)))
    untyped = []
    for column, kind, *_ in conn.execute(f"DESCRIBE SELECT * FROM {source}").fetchall():
        if column in have:
            continue
        if kind.strip('"') == "NULL":
            untyped.append(f'"{column}"')
        else:
            conn.execute(f'ALTER TABLE {checked_identifier(name)} ADD COLUMN "{column}" {kind}')
    return untyped


def replace_rows_from(conn: duckdb.DuckDBPyConnection, name: str, frame: pd.DataFrame, since: pd.Timestamp,
                      until: pd.Timestamp | None = None) -> None:
    """Replace the rows of table ``name`` dated ``since`` or later (up to ``until``, when given) by
    the frame's rows of those days (the rows outside are kept). No transaction of its own: the
    caller's transaction holds it."""
    last = pd.Timestamp.max if until is None else pd.Timestamp(until)
    delete_days(conn, name, since, until)
    write_rows(conn, name, frame[(frame["date"] >= since) & (frame["date"] <= last)], create=False)


def delete_days(conn: duckdb.DuckDBPyConnection, name: str, since: pd.Timestamp, until: pd.Timestamp | None = None) -> None:
    """Delete the rows of table ``name`` dated ``since`` or later (up to ``until``, when given)."""
    conn.execute(f"DELETE FROM {checked_identifier(name)} WHERE date >= ?" + (" AND date <= ?" if until is not None else ""),
                 [pd.Timestamp(since).date()] + ([pd.Timestamp(until).date()] if until is not None else []))


def replace_tables(conn: duckdb.DuckDBPyConnection, frames: Mapping[str, pd.DataFrame],
                   then: Callable[[duckdb.DuckDBPyConnection], None] | None = None) -> None:
    """Atomically replace each named table with its frame, all in one transaction; ``then`` runs
    inside the same transaction (the change log).

    Datetime columns named in :data:`DATE_COLUMNS` are stored as DATE (daily data has no time).
    Either every table is replaced or, on any error, none is.
    """
    with transaction(conn):
        for name, frame in frames.items():
            write_rows(conn, name, frame, create=True)
        if then is not None:
            then(conn)


@contextmanager
def transaction(conn: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """One DuckDB transaction around the block: committed when it ends, rolled back on any error."""
    conn.execute("BEGIN TRANSACTION")
    try:
        yield conn
        conn.execute("COMMIT")
    except Exception:
        conn.execute("ROLLBACK")
        raise


def replace_table(conn: duckdb.DuckDBPyConnection, name: str, frame: pd.DataFrame) -> int:
    """Atomically replace table ``name`` with ``frame``; see :func:`replace_tables`."""
    replace_tables(conn, {name: frame})
    return len(frame)
