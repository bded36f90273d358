"""Read-only queries on the serving snapshot; the one query layer under the REST and Python APIs.

Every query is parameterised: values from a request (symbols, dates, thresholds) are bound, never
spliced into SQL text. Results are cached per snapshot file version, since a snapshot never changes
once published (a new one is a new file, renamed into place).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from emergent_pipeline.storage import serving_db_path, table_exists


class NoDataError(RuntimeError):
    """The snapshot, or a table in it, is not there yet: a job has to run first."""


class OutOfRangeError(ValueError):
    """A request asks for a day the stored data does not cover."""


@dataclass(frozen=True)
class Snapshot:
    path: str
    version: tuple[int, int]  # (inode, mtime_ns): a new publication is a new file


class SnapshotReader:
    """Opens the current snapshot read-only for each query (cheap, and a request keeps the file it
    opened even if a new one is published meanwhile), with a small result cache per version."""

    def __init__(self, path: str | None = None, cache_size: int = 256):
        self.path = path or serving_db_path()
        self.cache: OrderedDict = OrderedDict()
        self.cache_size = cache_size
        self.lock = threading.Lock()

    def snapshot(self) -> Snapshot:
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            raise NoDataError(f"no data yet: {self.path} does not exist; run `make run` or the daily_refresh job") from None
        return Snapshot(self.path, (stat.st_ino, stat.st_mtime_ns))

    def query(self, sql: str, params: tuple = (), table: str | None = None) -> pd.DataFrame:
        snapshot = self.snapshot()
        key = (snapshot.version, sql, tuple(tuple(p) if isinstance(p, list) else p for p in params))
        with self.lock:
            if key in self.cache:
                self.cache.move_to_end(key)
                return self.cache[key]
        with duckdb.connect(snapshot.path, read_only=True) as conn:
            if table is not None and not table_exists(conn, table):
                raise NoDataError(f"no {table} in the snapshot yet; run the daily_refresh job (or `make run`)")
            frame = conn.execute(sql, list(params)).df()
        with self.lock:
            self.cache[key] = frame
            if len(self.cache) > self.cache_size:
                self.cache.popitem(last=False)
        return frame

    def has_table(self, table: str) -> bool:
        try:
            snapshot = self.snapshot()
        except NoDataError:
            return False
        with duckdb.connect(snapshot.path, read_only=True) as conn:
            return table_exists(conn, table)

    def published_at(self) -> pd.Timestamp:
        return pd.Timestamp(Path(self.snapshot().path).stat().st_mtime, unit="s", tz="UTC")


ISSUED_COLUMNS = "ml_probability, expected_return, ml_recommendation, ml_quality_score, confidence_adjustment, model_version, issued_on"
LIVE_SIGNALS = f"""
WITH issued AS (
    SELECT symbol, date, {ISSUED_COLUMNS} FROM signal_scores WHERE issued_on <= ?
    QUALIFY row_number() OVER (PARTITION BY symbol, date ORDER BY issued_on DESC, scored_at DESC) = 1
)
SELECT o.* EXCLUDE ({ISSUED_COLUMNS}, model_label_end, origin, ml_status), i.* EXCLUDE (symbol, date),
       CASE WHEN i.ml_probability IS NULL THEN 'unscored' ELSE 'scored' END AS ml_status,
       CASE WHEN i.ml_probability IS NULL THEN 'no score was issued for it on or before this day' END AS ml_reason
FROM signal_outcomes o LEFT JOIN issued i USING (symbol, date)
WHERE o.date <= ? AND (o.exit_date IS NULL OR o.exit_date > ?)
ORDER BY i.ml_probability DESC NULLS LAST, o.composite_score DESC
"""
"""The consensus signals live on a day, each with the newest score issued on or before it: what a
user saw that day, not what a later model thinks of it."""


def date_range(reader: SnapshotReader, table: str = "market_context") -> tuple[pd.Timestamp, pd.Timestamp]:
    """The first and the newest stored day."""
    frame = reader.query(f"SELECT min(date) AS first, max(date) AS newest FROM {table}", table=table)
    if frame.empty or pd.isna(frame["newest"].iloc[0]):
        raise NoDataError(f"{table} is empty; run the daily_refresh job")
    return pd.Timestamp(frame["first"].iloc[0]), pd.Timestamp(frame["newest"].iloc[0])


def newest_date(reader: SnapshotReader, table: str = "signal_outcomes") -> pd.Timestamp:
    return date_range(reader, table)[1]


def live_signals(reader: SnapshotReader, as_of: pd.Timestamp) -> pd.DataFrame:
    """Consensus signals still live on ``as_of``: issued on or before it, not yet exited, with the
    score issued for each on or before ``as_of`` (the request's own filters are applied by the engine
    on these rows)."""
    day = as_of.date()
    return reader.query(LIVE_SIGNALS, (day, day, day), table="signal_outcomes")


def market_context_on(reader: SnapshotReader, as_of: pd.Timestamp | None = None) -> pd.Series:
    if as_of is None:
        frame = reader.query("SELECT * FROM market_context ORDER BY date DESC LIMIT 1", table="market_context")
    else:
        frame = reader.query("SELECT * FROM market_context WHERE date <= ? ORDER BY date DESC LIMIT 1", (as_of.date(),), table="market_context")
    if frame.empty:
        raise NoDataError("market_context is empty; run the daily_refresh job")
    return frame.iloc[0]


def strategy_signals_on(reader: SnapshotReader, strategy: str, as_of: pd.Timestamp) -> pd.DataFrame:
    """One strategy's signals fired on ``as_of``, best first, each with the Shariah status of its day
    (the request's filters are applied by the engine on these rows)."""
    return reader.query(
        "SELECT s.* EXCLUDE (indicators), coalesce(h.status, 'UNKNOWN') AS shariah_status FROM strategy_signals s "
        "LEFT JOIN shariah_screen h ON h.symbol = s.symbol AND h.date = s.date "
        "WHERE s.strategy = ? AND s.date = ? ORDER BY s.confidence DESC",
        (strategy, as_of.date()),
        table="strategy_signals",
    )
