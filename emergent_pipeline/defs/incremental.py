"""Recomputing only what changed: the Dagster side of `emergent_pipeline.changes`.

A time-indexed asset is partitioned by month (:data:`TRADING_MONTHS`). Run without a partition (the
daily refresh, `make run`), it asks the change log what to recompute (everything, the days from a
first changed day, or nothing) and records a materialization of each month it rewrote, so the
Dagster UI's partition view follows the stored table. Run for a range of months (a backfill
launched in the UI), it recomputes exactly those months. Either way it reads its inputs from the
look-back its rules need before the first day, computes chunk by chunk (on a Dask cluster's workers
when one is named; only this process opens DuckDB) and replaces those days of its table together
with its own entry in the log, in one transaction (several chunks are staged first and swapped in:
:func:`recompute_incrementally`).
"""

import json
import os
from collections.abc import Callable, Iterator
from functools import partial
from dataclasses import asdict, dataclass, field, is_dataclass

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
from dagster_duckdb import DuckDBResource

from emergent_pipeline import changes
from emergent_pipeline.engine import ordered_map
from emergent_pipeline.storage import delete_days, insert_by_name, read_table, replace_rows_from, table_exists, transaction, write_rows

STRATEGY_LOOKBACK_DAYS = 500
"""Trading days read before the first day a run recomputes: the longest window (200 bars) with room
for a symbol's missing days, and for the Wilder-smoothed RSI and ATR, whose start still weighs
(13/14)^300 ≈ 2e-10 three hundred bars later (below the rounding of the stored values)."""


def settings_key(settings) -> str:
    """The settings a table was computed with, as text: a change means recomputing everything."""
    return json.dumps(settings, sort_keys=True, default=lambda v: asdict(v) if is_dataclass(v) else str(v))


ROWS_PER_CHUNK = int(os.environ.get("EMERGENT_PIPELINE_ROWS_PER_CHUNK", 2_000_000))
"""Symbol-days computed at once (plus their look-back): a history longer than this is recomputed in
chunks of trading days, so memory follows the universe, not the length of the history. The bundled
panel (619,028 rows) is one chunk."""

TRADING_MONTHS = dg.TimeWindowPartitionsDefinition(
    start=os.environ.get("EMERGENT_PIPELINE_HISTORY_START", "2013-01"), cron_schedule="0 0 1 * *", fmt="%Y-%m", end_offset=1)
"""The months of the time-indexed assets, from `EMERGENT_PIPELINE_HISTORY_START` (year-month;
the bundled panel starts in February 2013) to the current month. Days before the first month are
computed and stored all the same; they have no partition to show."""

BACKFILL_POLICY = dg.BackfillPolicy.multi_run(max_partitions_per_run=12)
"""A backfill runs a year of months per run: a failed year is retried alone, and the runs queue one
at a time (dagster.yaml), as DuckDB takes one writer."""


@dataclass(frozen=True)
class Incremental:
    """How one time-indexed asset is recomputed."""

    asset: str
    upstreams: list[str]
    settings: str
    lookback: Callable[[duckdb.DuckDBPyConnection, pd.Timestamp], pd.Timestamp]
    tables: list[str]
    """Inputs read from the look-back before each chunk to the chunk's last day."""
    whole_tables: list[str]
    """Inputs read whole, once (universe, statements)."""
    unread: dict[str, list[str]] = field(default_factory=dict)
    """Columns of an input the computation does not read: left in the store (the strategies'
    indicator maps cost ten times the rest of their table to read into pandas)."""


@dataclass
class Recomputed:
    recompute: changes.Recompute
    chunks: list[tuple[pd.Timestamp, pd.Timestamp, pd.Timestamp]] = field(default_factory=list)
    """(first day, last day, first day read) of each chunk."""
    rows: dict[str, int] = field(default_factory=dict)
    newest: dict[str, pd.DataFrame] = field(default_factory=dict)
    """The last chunk's rows per output (the newest days, for previews)."""
    extras: list = field(default_factory=list)
    """What the computation returned besides its tables, per chunk."""

    @property
    def note(self) -> str:
        if self.recompute.nothing:
            return f"nothing ({self.recompute.why})"
        if not self.chunks:
            return f"no trading day on or after {self.recompute.since:%Y-%m-%d} ({self.recompute.why})"
        first, last, read_from = self.chunks[0][0], self.chunks[-1][1], self.chunks[0][2]
        what = "the whole history" if self.recompute.whole else f"the days from {first:%Y-%m-%d} to {last:%Y-%m-%d}"
        return (f"{what} ({self.recompute.why}), in {len(self.chunks)} chunk(s) of at most {ROWS_PER_CHUNK:,} symbol-days, "
                f"reading from {read_from:%Y-%m-%d} for the look-back")

    @property
    def months(self) -> list[str]:
        """The partitions of :data:`TRADING_MONTHS` holding a recomputed day."""
        if not self.chunks:
            return []
        spanned = pd.period_range(self.chunks[0][0], self.chunks[-1][1], freq="M").strftime("%Y-%m")
        return [key for key in spanned if TRADING_MONTHS.has_partition_key(key)]


def chunk_bounds(days: np.ndarray, symbols: int) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """Consecutive runs of trading `days` holding about :data:`ROWS_PER_CHUNK` symbol-days each."""
    size = max(ROWS_PER_CHUNK // max(symbols, 1), 20)
    return [(pd.Timestamp(days[i]), pd.Timestamp(days[min(i + size, len(days)) - 1])) for i in range(0, len(days), size)]


Compute = Callable[[list, pd.Timestamp], tuple[dict[str, pd.DataFrame], object]]
"""(inputs, the chunk's first day) → (output tables, an extra); outputs before the first day are
dropped, so a computation may skip them (the look-back only feeds its windows)."""


def compute_chunk(compute: Compute, frames: list, first: pd.Timestamp, last: pd.Timestamp) -> tuple[dict[str, pd.DataFrame], object]:
    """The chunk's output rows (its days only, without the look-back) and the computation's extra."""
    outputs, extra = compute(frames, first)
    return {name: f[(f["date"] >= first) & (f["date"] <= last)].reset_index(drop=True) for name, f in outputs.items()}, extra


def computed_chunks(conn: duckdb.DuckDBPyConnection, spec: Incremental, compute: Compute, bounds: list, whole: list) -> Iterator[tuple]:
    """(first, last, read_from, outputs, extra) of each chunk, in order, computed where
    ``engine.ordered_map`` computes: this process alone reads DuckDB, each chunk's inputs as it is
    sent; the tables every chunk reads whole are sent once."""
    def chunks() -> Iterator[tuple]:
        for first, last in bounds:
            read_from = spec.lookback(conn, first)
            yield first, last, read_from, [read_table(conn, t, since=read_from, until=last, without=spec.unread.get(t)) for t in spec.tables]

    if len(bounds) <= 1:  # a day's refresh: sending one chunk to a cluster costs more than it saves
        yield from (_computed_chunk(compute, chunk, *whole) for chunk in chunks())
        return
    yield from ordered_map(partial(_computed_chunk, compute), chunks(), whole)


def _computed_chunk(compute: Compute, chunk: tuple, *whole: pd.DataFrame) -> tuple:
    first, last, read_from, frames = chunk
    return first, last, read_from, *compute_chunk(compute, frames + list(whole), first, last)


STAGED = "__staged"
"""Suffix of the table a recomputation of several chunks writes before swapping it in."""


def recompute_incrementally(duckdb: DuckDBResource, spec: Incremental, compute: Compute,
                            window: tuple[pd.Timestamp, pd.Timestamp] | None = None) -> Recomputed:
    """Recompute the days `window` [start, end) holds or, without a window, what the change log
    says `spec.asset` must; chunk by chunk, replacing those days of its tables together with its log
    entry in one transaction (a failure changes nothing).

    One chunk (a day's refresh) is written in that transaction. Several are written first, each
    committed, to a staging table per output (``<table>__staged``), then swapped in with the log
    entry in one short transaction: DuckDB holds a transaction's uncommitted rows in memory, so
    writing a whole history's chunks in one transaction held the whole history (4-5 GB of the screen
    at 5,000 symbols × 20 years). A failure drops the staging tables and leaves the stored ones.

    `compute` takes the inputs (`spec.tables` then `spec.whole_tables`) and returns the output
    tables, each with a `date` column, and anything else the asset wants to report. A window run
    logs its change for the assets after it, but not the input versions it took in: only a run that
    follows the log knows every day is up to date."""
    with duckdb.get_connection() as conn:
        if window is None:
            recompute = changes.plan(conn, spec.asset, spec.upstreams, spec.settings)
            until = None
        else:
            recompute = changes.Recompute(False, window[0], {}, f"the months {window[0]:%Y-%m} to "
                                          f"{window[1] - pd.Timedelta(days=1):%Y-%m} were requested")
            until = window[1] - pd.Timedelta(days=1)
        done = Recomputed(recompute)
        if recompute.nothing:
            return done
        since = recompute.since
        where = [("date >= ?", since), ("date <= ?", until)]
        where = [(sql, day.date()) for sql, day in where if day is not None]
        days = conn.execute("SELECT DISTINCT date FROM price_history" + (" WHERE " + " AND ".join(s for s, _ in where) if where else "")
                            + " ORDER BY 1", [d for _, d in where]).df()["date"].to_numpy()
        symbols = conn.execute("SELECT count(DISTINCT symbol) FROM price_history").fetchall()[0][0]
        whole = [read_table(conn, t) for t in spec.whole_tables]
        bounds = chunk_bounds(days, symbols)
        chunks = computed_chunks(conn, spec, compute, bounds, whole)

        def log(c) -> None:
            if window is None:
                changes.record(c, spec.asset, recompute, spec.settings, since, recompute.whole)
            else:
                changes.log_change(c, spec.asset, since, whole=False)

        if len(bounds) <= 1:
            with transaction(conn):
                write_chunks(conn, chunks, len(bounds), done, since, until, staged=False)
                log(conn)
            return done
        written: set[str] = set()
        try:
            written = write_chunks(conn, chunks, len(bounds), done, since, until, staged=True)
            with transaction(conn):
                swap_in(conn, written, since, until)
                log(conn)
        except BaseException:
            for name in written or done.rows:
                conn.execute(f"DROP TABLE IF EXISTS {name}{STAGED}")
            raise
    return done


def write_chunks(conn: duckdb.DuckDBPyConnection, chunks: Iterator[tuple], count: int, done: Recomputed,
                 since: pd.Timestamp | None, until: pd.Timestamp | None, staged: bool) -> set[str]:
    """Write each chunk's outputs as it comes: to the tables themselves (replacing the days from
    ``since``), or ``staged`` to new staging tables; the tables written."""
    created: set[str] = set()
    for number, (first, last, read_from, outputs, extra) in enumerate(chunks):
        for name, part in outputs.items():
            done.rows[name] = done.rows.get(name, 0) + len(part)
            if number == count - 1:
                done.newest[name] = part
            target = f"{name}{STAGED}" if staged else name
            if name in created:
                write_rows(conn, target, part, create=False)
            elif not staged and since is not None and table_exists(conn, name):
                replace_rows_from(conn, name, part, since, until)  # the first chunk starts at since
                created.add(name)
            elif not part.empty or number == count - 1:
                write_rows(conn, target, part, create=True)
                created.add(name)
            # else: an empty first chunk waits, so the table is created from rows that carry its column types
        done.chunks.append((first, last, read_from))
        done.extras.append(extra)
        outputs = part = extra = None  # written: freed before the next chunk is computed
    return created


def swap_in(conn: duckdb.DuckDBPyConnection, names: set[str], since: pd.Timestamp | None, until: pd.Timestamp | None) -> None:
    """Inside the caller's transaction: each staged table in place of its table (a whole
    recomputation, or a table not stored yet), or its rows in place of the days from ``since``."""
    for name in sorted(names):
        stage = f"{name}{STAGED}"
        if since is None or not table_exists(conn, name):
            conn.execute(f"DROP TABLE IF EXISTS {name}")
            conn.execute(f"ALTER TABLE {stage} RENAME TO {name}")
            continue
        delete_days(conn, name, since, until)
        insert_by_name(conn, name, stage)
        conn.execute(f"DROP TABLE {stage}")


def replace_days(conn: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame, since: pd.Timestamp | None,
                 then: Callable[[duckdb.DuckDBPyConnection], None]) -> None:
    """In one transaction: ``table`` replaced by ``frame`` whole (``since`` None), or its rows from
    ``since`` by the frame's; then ``then`` (the change log)."""
    with transaction(conn):
        if since is None:
            write_rows(conn, table, frame, create=True)
        else:
            replace_rows_from(conn, table, frame, since)
        then(conn)


def checked_since(conn: duckdb.DuckDBPyConnection, writer: str, full: bool, lookback_days: int = 0) -> tuple[pd.Timestamp | None, str]:
    """(first day a check reads, what it checks) for a check of the days ``writer``'s newest change
    wrote, with ``lookback_days`` trading days before them: None (every day) when asked, when no change
    of it is logged (a table written by something else), when it rewrote everything, and on a run
    whose newest price day is the first of its month (a periodic full check, which also covers a run
    that left the checks out)."""
    change = changes.newest_change(conn, writer)
    if full or change is None or change[0]:
        why = "asked" if full else f"no change of {writer} is logged" if change is None else f"{writer} rewrote everything"
        return None, f"every day ({why})"
    since = change[1]
    newest, previous = conn.execute("SELECT max(date), max(date) FILTER (date < (SELECT max(date) FROM price_history)) "
                                    "FROM price_history").fetchone()
    if previous is None or pd.Timestamp(previous).to_period("M") != pd.Timestamp(newest).to_period("M"):
        return None, f"every day (the periodic full check: {pd.Timestamp(newest):%Y-%m-%d} is the first trading day of its month)"
    start = changes.lookback_start(conn, since, lookback_days) if lookback_days else since
    before = f"; {lookback_days} trading days before" if lookback_days else ""
    return start, f"the days from {start:%Y-%m-%d} ({writer} changed them from {since:%Y-%m-%d}{before})"


def run_window(context: dg.AssetExecutionContext) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """The [start, end) of the months a partitioned run was launched for; None for a run without one."""
    if not (context.has_partition_key or context.has_partition_key_range):
        return None
    window = context.partition_time_window
    return pd.Timestamp(window.start).tz_localize(None), pd.Timestamp(window.end).tz_localize(None)


def recompute_asset(context: dg.AssetExecutionContext, duckdb: DuckDBResource, spec: Incremental, compute: Compute) -> Recomputed:
    """Recompute a partitioned asset for its run: the requested months, or what changed. A run without
    a partition records a materialization of each month it rewrote, so the UI shows them up to date."""
    window = run_window(context)
    done = recompute_incrementally(duckdb, spec, compute, window)
    if window is None:
        for month in done.months:
            context.log_event(dg.AssetMaterialization(asset_key=context.asset_key, partition=month,
                                                      metadata={"recomputed": done.note}))
    return done


def stored_query(duckdb: DuckDBResource, query: str) -> pd.DataFrame:
    """The result of `query` on the stored tables (for metadata that describes a whole table)."""
    with duckdb.get_connection() as conn:
        return conn.execute(query).df()


