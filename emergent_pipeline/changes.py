"""Which days a time-indexed table must recompute: a log of what each writer changed.

Every rule of the pipeline computes day D from data up to D (no look-ahead), so when a table's
inputs change from day C onward, only its rows from C onward can change, and computing them needs
only a look-back before C (the longest window a rule reads). Each writer records in
``asset_changes`` the first day it changed (or that it rewrote everything), with a version number;
each reader records in ``asset_inputs`` the versions of its inputs it has taken in and the settings
it ran with. A reader then recomputes:

- everything, when it has never run, its settings changed, or an input was rewritten whole;
- the days from the earliest changed day of the input versions it has not taken in yet;
- nothing, when no input changed.

The log is written in the same transaction as the table it describes, so a failed run leaves both
as they were.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import duckdb
import pandas as pd

from emergent_pipeline.storage import table_exists

CHANGES = "asset_changes"
INPUTS = "asset_inputs"
SCHEMA = [
    f"CREATE TABLE IF NOT EXISTS {CHANGES} (asset VARCHAR, version BIGINT, changed_from DATE, whole BOOLEAN, recorded_at TIMESTAMP)",
    f"CREATE TABLE IF NOT EXISTS {INPUTS} (asset VARCHAR, upstream VARCHAR, version BIGINT, settings VARCHAR)",
]


@dataclass(frozen=True)
class Recompute:
    """What a reader must recompute: everything (``whole``), the days from ``since``, or nothing."""

    whole: bool
    since: pd.Timestamp | None
    versions: dict[str, int] = field(default_factory=dict)
    """Each input's newest version, taken in once the reader's write commits."""
    why: str = ""

    @property
    def nothing(self) -> bool:
        return not self.whole and self.since is None


def plan(conn: duckdb.DuckDBPyConnection, asset: str, upstreams: list[str], settings: str) -> Recompute:
    """What ``asset`` must recompute, given the changes its ``upstreams`` logged since it last ran."""
    newest = {u: 0 for u in upstreams}
    if table_exists(conn, CHANGES):
        rows = conn.execute(f"SELECT asset, max(version) FROM {CHANGES} WHERE asset IN ({', '.join('?' * len(upstreams))}) GROUP BY asset",
                            upstreams).fetchall()
        newest.update({a: int(v) for a, v in rows})
    if not table_exists(conn, asset) or not table_exists(conn, INPUTS):
        return Recompute(True, None, newest, f"{asset} has not been computed incrementally before")
    taken = dict(conn.execute(f"SELECT upstream, version FROM {INPUTS} WHERE asset = ?", [asset]).fetchall())
    ran_with = conn.execute(f"SELECT any_value(settings) FROM {INPUTS} WHERE asset = ?", [asset]).fetchall()[0][0]
    if set(taken) != set(upstreams):
        return Recompute(True, None, newest, f"{asset} has no record of the inputs it was computed from")
    if ran_with != settings:
        return Recompute(True, None, newest, f"the settings of {asset} changed")
    pending = conn.execute(
        f"SELECT bool_or(whole), min(changed_from) FROM {CHANGES} c JOIN {INPUTS} i ON i.asset = ? AND i.upstream = c.asset "
        "WHERE c.version > i.version", [asset]).fetchall()[0]
    whole, since = pending
    if whole:
        return Recompute(True, None, newest, "an input was rewritten whole")
    if since is None:
        return Recompute(False, None, newest, "no input changed since the last run")
    return Recompute(False, pd.Timestamp(since), newest, f"inputs changed from {since:%Y-%m-%d}")


def record(conn: duckdb.DuckDBPyConnection, asset: str, recompute: Recompute, settings: str,
           changed_from: pd.Timestamp | None, whole: bool) -> None:
    """Inside the writer's transaction: log ``asset``'s own change and the input versions it took in."""
    for statement in SCHEMA:
        conn.execute(statement)
    log_change(conn, asset, changed_from, whole)
    conn.execute(f"DELETE FROM {INPUTS} WHERE asset = ?", [asset])
    for upstream, version in recompute.versions.items():
        conn.execute(f"INSERT INTO {INPUTS} VALUES (?, ?, ?, ?)", [asset, upstream, version, settings])


def taking_in_own_change(conn: duckdb.DuckDBPyConnection, recompute: Recompute, upstream: str) -> Recompute:
    """``recompute`` with ``upstream``'s newest logged version taken in: for a reader that writes that
    input itself in the same transaction (the scores it issues) and computed its rows with them."""
    newest = conn.execute(f"SELECT max(version) FROM {CHANGES} WHERE asset = ?", [upstream]).fetchone()[0]
    return recompute if newest is None else replace(recompute, versions={**recompute.versions, upstream: int(newest)})


def unless_missing(conn: duckdb.DuckDBPyConnection, recompute: Recompute, table: str) -> Recompute:
    """``recompute``, or everything when the input ``table`` is not stored: dropped or never
    written, its rows are gone whatever the log says."""
    if recompute.whole or table_exists(conn, table):
        return recompute
    return replace(recompute, whole=True, since=None, why=f"{table} is not stored")


def earliest(*days: pd.Timestamp | None) -> pd.Timestamp | None:
    """The earliest of the days given (None among them ignored; None when all are)."""
    present = [pd.Timestamp(day) for day in days if day is not None and not pd.isna(day)]
    return min(present) if present else None


def log_change(conn: duckdb.DuckDBPyConnection, asset: str, changed_from: pd.Timestamp | None, whole: bool) -> None:
    """Append ``asset``'s change (nothing is logged when nothing changed)."""
    if not whole and changed_from is None:
        return
    for statement in SCHEMA:
        conn.execute(statement)
    conn.execute(
        f"INSERT INTO {CHANGES} SELECT ?, coalesce(max(version), 0) + 1, ?, ?, now()::TIMESTAMP FROM {CHANGES} WHERE asset = ?",
        [asset, None if changed_from is None else pd.Timestamp(changed_from).date(), whole, asset])


def newest_change(conn: duckdb.DuckDBPyConnection, asset: str) -> tuple[bool, pd.Timestamp | None] | None:
    """(whole, first changed day) of ``asset``'s newest logged change, or None when it logged none."""
    if not table_exists(conn, CHANGES):
        return None
    row = conn.execute(f"SELECT whole, changed_from FROM {CHANGES} WHERE asset = ? ORDER BY version DESC LIMIT 1", [asset]).fetchone()
    return None if row is None else (bool(row[0]), None if row[1] is None else pd.Timestamp(row[1]))


def first_changed_day(conn: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame, day_column: str | None,
                      key: list[str] | None = None) -> tuple[bool, pd.Timestamp | None]:
    """(whole, first day) of the difference between stored ``table`` and the ``frame`` about to
    replace it: whole when the table does not exist yet or its columns differ (or, for a table
    without a ``day_column``, when any row differs); else the earliest ``day_column`` of any row
    added, removed or changed (None when they are identical). With a ``key`` unique in both (a
    validated price table), one join on it finds the rows that differ; without, the two multisets
    of rows are compared (``EXCEPT ALL`` both ways, several times slower on a long history)."""
    if not table_exists(conn, table):
        return True, None
    stored_columns = [r[0] for r in conn.execute(f"DESCRIBE {table}").fetchall()]
    if stored_columns != list(frame.columns):
        return True, None
    conn.register("incoming", frame)
    try:
        query = _keyed_difference(table, list(frame.columns), day_column, key) if key and day_column else \
            _multiset_difference(table, list(frame.columns), day_column)
        first, differing = conn.execute(query).fetchall()[0]
    finally:
        conn.unregister("incoming")
    if day_column is None or (differing and first is None):
        return bool(differing), None  # no day to start from: a difference means everything
    return False, None if first is None else pd.Timestamp(first)


def _multiset_difference(table: str, columns: list[str], day_column: str | None) -> str:
    selected = ", ".join(f'CAST("{c}" AS DATE) AS "{c}"' if c == day_column else f'"{c}"' for c in columns)
    return (f'SELECT {f"min({chr(34)}{day_column}{chr(34)})" if day_column else "NULL"}, count(*) FROM ('
            f'(SELECT {selected} FROM incoming EXCEPT ALL SELECT {selected} FROM {table}) '
            f'UNION ALL (SELECT {selected} FROM {table} EXCEPT ALL SELECT {selected} FROM incoming))')


def _keyed_difference(table: str, columns: list[str], day_column: str, key: list[str]) -> str:
    def value(side: str, c: str) -> str:
        return f'CAST({side}."{c}" AS DATE)' if c == day_column and side == "i" else f'{side}."{c}"'

    joined = " AND ".join(f"{value('i', c)} = {value('s', c)}" for c in key)
    differs = " OR ".join(f"{value('i', c)} IS DISTINCT FROM {value('s', c)}" for c in columns if c not in key)
    missing = f'i."{key[0]}" IS NULL OR s."{key[0]}" IS NULL'
    return (f"SELECT min(coalesce({value('i', day_column)}, s.\"{day_column}\")), count(*) FROM incoming i FULL OUTER JOIN {table} s "
            f"ON {joined} WHERE {missing}" + (f" OR {differs}" if differs else ""))


def lookback_start(conn: duckdb.DuckDBPyConnection, since: pd.Timestamp, trading_days: int) -> pd.Timestamp:
    """The day ``trading_days`` trading days (days with any bar in ``price_history``) before ``since``."""
    start = conn.execute(
        "SELECT min(date) FROM (SELECT DISTINCT date FROM price_history WHERE date < ? ORDER BY date DESC LIMIT ?)",
        [since.date(), trading_days]).fetchall()[0][0]
    return pd.Timestamp(start) if start is not None else since
