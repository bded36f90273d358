"""Read-only queries on the serving snapshot; the one query layer under the REST and Python APIs.

Every query is parameterised: values from a request (symbols, dates, thresholds) are bound, never
spliced into SQL text. Results are cached per snapshot file version, since a snapshot never changes
once published (a new one is a new file, renamed into place).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

import duckdb
import pandas as pd

from emergent_pipeline.storage import serving_db_path

REQUIRED_TABLES = ("price_history", "market_context", "signal_outcomes", "signal_scores")
"""What the data endpoints read: a snapshot without one of them cannot serve."""


class NoDataError(RuntimeError):
    """The snapshot, or a table in it, is not there yet (or cannot be read): a job has to run first."""


class OutOfRangeError(ValueError):
    """A request asks for a day the stored data does not cover."""


@dataclass(frozen=True)
class Snapshot:
    """One published snapshot, held open: a request that has it keeps reading this file even after a
    newer one is renamed into place (the open file outlives its name)."""

    version: tuple[int, int]  # (inode, mtime_ns): a new publication is a new file
    connection: duckdb.DuckDBPyConnection = field(compare=False, repr=False)
    tables: frozenset[str] = field(compare=False)


@dataclass(frozen=True)
class Refused:
    """A publication that could not be opened while an earlier one serves on."""

    version: tuple[int, int]
    reason: str


class SnapshotReader:
    """The current snapshot, opened once per publication and shared by every request (one DuckDB
    connection, a cursor per query), with a small result cache per version.

    ``pinned()`` holds one snapshot for a whole request: every query inside reads the same file, so
    an answer never mixes two publications. A new publication that cannot be opened (cut short, not
    a DuckDB file) does not take the data endpoints down: the last good snapshot serves on, and
    :meth:`warnings` says so, until a readable one is published."""

    def __init__(self, path: str | None = None, cache_size: int = 256):
        self.path = path or serving_db_path()
        self.cache: OrderedDict = OrderedDict()
        self.cache_size = cache_size
        self.lock = threading.Lock()
        self.open_lock = threading.Lock()
        self.current: Snapshot | None = None
        self.refused: Refused | None = None
        self.checked: tuple | None = None
        """(version, reasons, newest price day) of the last readiness worked out."""
        self.pin: ContextVar[Snapshot | None] = ContextVar(f"snapshot_pin_{id(self)}", default=None)

    def _version(self) -> tuple[int, int]:
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            raise NoDataError("no data yet: the serving snapshot does not exist; run the daily_refresh job on your data (`emergent-pipeline run daily_refresh -c your.yaml`; `make run` builds the bundled US demo)") from None
        return stat.st_ino, stat.st_mtime_ns

    def snapshot(self) -> Snapshot:
        """The pinned snapshot inside ``pinned()``, else the newest published one."""
        return self.pin.get() or self._newest()

    def _newest(self) -> Snapshot:
        version = self._version()
        current, refused = self.current, self.refused
        if current is not None and (current.version == version or (refused is not None and refused.version == version)):
            return current
        with self.open_lock:
            version = self._version()
            if self.current is not None and (self.current.version == version or (self.refused is not None and self.refused.version == version)):
                return self.current
            try:
                self.current = self._open()
            except NoDataError as error:
                if self.current is None:
                    raise
                self.refused = Refused(version, str(error))  # the last good one serves on
                return self.current
            self.refused = None
            return self.current

    def warnings(self) -> list[str]:
        """What a reader of the answers should know although the server can serve: a newer
        publication that could not be opened, with the earlier one serving in its place."""
        refused = self.refused
        if refused is None:
            return []
        return [f"a newer snapshot was published but cannot be opened ({refused.reason}); answers come from the previous one until "
                "a readable snapshot is published"]

    def _open(self) -> Snapshot:
        """Open the file at the path, making sure the file opened is the one whose version is recorded
        (a publication between the two could otherwise be mislabelled).

        The file is attached to a private in-memory database rather than connected to by path:
        DuckDB shares one database per path within a process, so a plain connect would hand back the
        previous publication for as long as any request still reads it."""
        for _ in range(10):
            version = self._version()
            connection = duckdb.connect()
            try:
                connection.execute("ATTACH ? AS snapshot (READ_ONLY)", [self.path])
                tables = frozenset(r[0] for r in connection.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_catalog = 'snapshot' AND table_schema = 'main'").fetchall())
            except duckdb.Error as error:
                connection.close()
                raise NoDataError(f"the serving snapshot cannot be read ({type(error).__name__}); run the daily_refresh job to publish a new one") from None
            if self._version() == version:
                return Snapshot(version, connection, tables)
            connection.close()
        raise NoDataError("the serving snapshot keeps changing while it is opened; try again")

    @contextmanager
    def pinned(self) -> Iterator[Snapshot]:
        """Hold the newest snapshot for everything done inside (a request)."""
        if self.pin.get() is not None:
            yield self.pin.get()
            return
        token = self.pin.set(self._newest())
        try:
            yield self.pin.get()
        finally:
            self.pin.reset(token)

    def query(self, sql: str, params: tuple = (), table: str | None = None) -> pd.DataFrame:
        snapshot = self.snapshot()
        if table is not None and table not in snapshot.tables:
            raise NoDataError(f"no {table} in the snapshot yet; run the daily_refresh job")
        key = (snapshot.version, sql, tuple(tuple(p) if isinstance(p, list) else p for p in params))
        with self.lock:
            if key in self.cache:
                self.cache.move_to_end(key)
                return self.cache[key]
        with self.lock:  # a cursor per query: DuckDB's own way to share one database across threads
            cursor = snapshot.connection.cursor()
        try:
            cursor.execute("USE snapshot")
            frame = cursor.execute(sql, list(params)).df()
        except duckdb.Error as error:
            raise NoDataError(f"the serving snapshot cannot answer ({type(error).__name__}); run the daily_refresh job to publish a new one") from None
        finally:
            cursor.close()
        with self.lock:
            self.cache[key] = frame
            if len(self.cache) > self.cache_size:
                self.cache.popitem(last=False)
        return frame

    def has_table(self, table: str) -> bool:
        try:
            return table in self.snapshot().tables
        except NoDataError:
            return False

    def readiness(self) -> tuple[list[str], str | None]:
        """Why the snapshot cannot serve (empty when it can: missing, unreadable, or a table the data
        endpoints read is missing or empty) and its newest price day; worked out once per publication."""
        try:
            snapshot = self.snapshot()
        except NoDataError as error:
            return [str(error)], None
        known = self.checked
        if known is not None and known[0] == snapshot.version:
            return list(known[1]), known[2]
        reasons = [f"no {t} in the snapshot" for t in REQUIRED_TABLES if t not in snapshot.tables]
        for table in (t for t in REQUIRED_TABLES if t in snapshot.tables):
            try:
                if self.query(f"SELECT count(*) AS n FROM {table}", table=table)["n"].item() == 0:
                    reasons.append(f"{table} is empty")
            except NoDataError as error:
                reasons.append(str(error))
        newest = None
        if not reasons:
            day = self.query("SELECT max(date) AS d FROM price_history", table="price_history")["d"].iloc[0]
            newest = f"{pd.Timestamp(day):%Y-%m-%d}"
        self.checked = (snapshot.version, tuple(reasons), newest)
        return reasons, newest

    def readiness_known(self) -> bool:
        """Whether :meth:`readiness` of the newest publication is already worked out (answering is a stat)."""
        known = self.checked
        try:
            return known is not None and self._newest().version == known[0]
        except NoDataError:
            return False


ISSUED_COLUMNS = ("ml_probability, expected_return, ml_recommendation, ml_quality_score, confidence_adjustment, model_version, issued_on, "
                  "model_recommendation, probability_earned, expected_return_earned, recommendation_basis, feature_distance, out_of_distribution, "
                  "model_label_end")
LIVE_SIGNALS = f"""
WITH issued AS (
    SELECT symbol, date, {ISSUED_COLUMNS} FROM signal_scores WHERE issued_on <= ?
    QUALIFY row_number() OVER (PARTITION BY symbol, date ORDER BY issued_on DESC, scored_at DESC) = 1
)
SELECT o.* EXCLUDE ({ISSUED_COLUMNS}, origin, ml_status), i.* EXCLUDE (symbol, date),
       CASE WHEN i.ml_probability IS NULL THEN 'unscored' ELSE 'scored' END AS ml_status,
       CASE WHEN i.ml_probability IS NULL THEN 'no score was issued for it on or before this day' END AS ml_reason
FROM signal_outcomes o LEFT JOIN issued i USING (symbol, date)
WHERE o.date <= ? AND (o.live_until IS NULL OR o.live_until > ?)
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


def live_signals(reader: SnapshotReader, as_of: pd.Timestamp) -> pd.DataFrame:
    """Consensus signals still live on ``as_of``: issued on or before it, not yet exited, with the
    score issued for each on or before ``as_of`` (the request's own filters are applied by the engine
    on these rows)."""
    day = as_of.date()
    return reader.query(LIVE_SIGNALS, (day, day, day), table="signal_outcomes")


def scored_outcomes(reader: SnapshotReader) -> pd.DataFrame:
    """Every signal with a score issued on its own day, with its outcome so far (``core.score_record``
    keeps those resolved by a day)."""
    return reader.query(
        "SELECT symbol, date, entry_date, exit_date, ml_probability, return_net, label FROM signal_outcomes WHERE ml_probability IS NOT NULL",
        table="signal_outcomes",
    )


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
