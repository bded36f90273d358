"""Publishing the serving snapshot: a copy of the served tables, swapped in with one rename.

A daily refresh changes one day of the long tables (prices, strategy votes, the screen, features),
so copying them whole every day would cost the history. The published snapshot records which
versions of the change log (:mod:`emergent_pipeline.changes`) it holds; the next publication starts
from a copy of it and rewrites, in each long table, only the days changed since. A table whose
writer logs no changes (the summary, the model evaluations: short tables) is copied whole, and so
is every table when the snapshot in place is missing, unreadable, or was published from another store.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from emergent_pipeline.changes import CHANGES
from emergent_pipeline.storage import checked_identifier, columns_of, remove_abandoned_staging, table_exists

HELD = "snapshot_changes"
"""In the snapshot: the change-log entry (asset, version, recorded_at) of each asset it holds."""


@dataclass
class Published:
    rows: dict[str, int] = field(default_factory=dict)
    """Rows per table in the new snapshot."""
    written: dict[str, int] = field(default_factory=dict)
    """Rows written per table by this publication (the rest came with the snapshot in place)."""


def publish_snapshot(conn: duckdb.DuckDBPyConnection, tables: list[str], target: str,
                     logged_by: Mapping[str, str]) -> Published:
    """Publish ``tables`` of the pipeline's database to ``target``: readers see the old snapshot or
    the new one, never a half-written file, and never wait for the pipeline's write lock.
    ``logged_by`` names, for each dated table, the asset whose change log says which days changed."""
    target_path = Path(target).expanduser()
    target_path.parent.mkdir(parents=True, exist_ok=True)
    staging = target_path.with_name(f".{target_path.name}.{os.getpid()}.tmp")
    staging.unlink(missing_ok=True)
    remove_abandoned_staging(target)
    attach_staging(conn, target_path, staging)
    try:
        published = Published()
        for table in tables:
            published.written[table] = refresh_table(conn, table, logged_by.get(table))
            if table_exists(conn, table):
                published.rows[table] = conn.execute(f"SELECT count(*) FROM snapshot.{checked_identifier(table)}").fetchone()[0]
        conn.execute(f"CREATE OR REPLACE TABLE snapshot.{HELD} AS SELECT asset, max(version) AS version, "
                     f"arg_max(recorded_at, version) AS recorded_at FROM main.{CHANGES} GROUP BY asset"
                     if table_exists(conn, CHANGES) else f"DROP TABLE IF EXISTS snapshot.{HELD}")
        conn.execute("CHECKPOINT snapshot")
    except BaseException:
        conn.execute("DETACH snapshot")
        staging.unlink(missing_ok=True)
        raise
    conn.execute("DETACH snapshot")
    os.replace(staging, target_path)
    return published


def attach_staging(conn: duckdb.DuckDBPyConnection, target: Path, staging: Path) -> None:
    """Attach ``staging`` as ``snapshot``: a copy of the snapshot in place, or a new file when there
    is none or it cannot be opened."""
    if target.exists():
        shutil.copyfile(target, staging)
        try:
            conn.execute("ATTACH ? AS snapshot", [str(staging)])
            return
        except duckdb.Error:
            staging.unlink(missing_ok=True)
    conn.execute("ATTACH ? AS snapshot", [str(staging)])


def refresh_table(conn: duckdb.DuckDBPyConnection, table: str, logged_by: str | None) -> int:
    """Bring ``snapshot.table`` to the pipeline's ``table``; the rows written."""
    name = checked_identifier(table)
    if not table_exists(conn, table):
        conn.execute(f"DROP TABLE IF EXISTS snapshot.{name}")
        return 0
    whole, since = changed_since(conn, table, logged_by)
    if whole or columns_of(conn, f"main.{name}") != columns_of(conn, f"snapshot.{name}"):  # a column added since: copied whole
        conn.execute(f"CREATE OR REPLACE TABLE snapshot.{name} AS SELECT * FROM main.{name}")
        return conn.execute(f"SELECT count(*) FROM snapshot.{name}").fetchone()[0]
    if since is None:
        return 0
    conn.execute(f"DELETE FROM snapshot.{name} WHERE date >= ?", [since.date()])
    return conn.execute(f"INSERT INTO snapshot.{name} SELECT * FROM main.{name} WHERE date >= ?", [since.date()]).fetchone()[0]


def changed_since(conn: duckdb.DuckDBPyConnection, table: str, logged_by: str | None) -> tuple[bool, pd.Timestamp | None]:
    """(whole, first day) of what changed in ``table`` since the snapshot in place was published
    (not whole and no day: nothing)."""
    if logged_by is None or not snapshot_has(conn, table) or not table_exists(conn, CHANGES) or not snapshot_has(conn, HELD):
        return True, None
    held = conn.execute(f"SELECT h.version FROM snapshot.{HELD} h JOIN main.{CHANGES} c USING (asset, version, recorded_at) "
                        "WHERE h.asset = ?", [logged_by]).fetchone()
    if held is None:  # not in the snapshot, or published from another store's log
        return True, None
    whole, since = conn.execute(f"SELECT bool_or(whole), min(changed_from) FROM main.{CHANGES} WHERE asset = ? AND version > ?",
                                [logged_by, held[0]]).fetchone()
    return bool(whole), None if since is None else pd.Timestamp(since)


def snapshot_has(conn: duckdb.DuckDBPyConnection, table: str) -> bool:
    return conn.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = 'snapshot' AND table_name = ?",
                        [table]).fetchone()[0] > 0
