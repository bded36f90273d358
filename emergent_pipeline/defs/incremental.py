"""Recomputing only what changed: the Dagster side of ``emergent_pipeline.changes``.

A time-indexed asset asks the change log what to recompute (everything, the days from a first
changed day, or nothing), reads its inputs from the look-back its rules need before that day, and
replaces those days of its table together with its own entry in the log, in one transaction.
"""

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, is_dataclass

import duckdb
import numpy as np
import pandas as pd
from dagster_duckdb import DuckDBResource

from emergent_pipeline import changes
from emergent_pipeline.storage import read_table, replace_rows_from, table_exists, write_rows

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
        first, read_from = self.chunks[0][0], self.chunks[0][2]
        what = "the whole history" if self.recompute.whole else f"the days from {first:%Y-%m-%d}"
        return (f"{what} ({self.recompute.why}), in {len(self.chunks)} chunk(s) of at most {ROWS_PER_CHUNK:,} symbol-days, "
                f"reading from {read_from:%Y-%m-%d} for the look-back")


def chunk_bounds(days: np.ndarray, symbols: int) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """Consecutive runs of trading ``days`` holding about :data:`ROWS_PER_CHUNK` symbol-days each."""
    size = max(ROWS_PER_CHUNK // max(symbols, 1), 20)
    return [(pd.Timestamp(days[i]), pd.Timestamp(days[min(i + size, len(days)) - 1])) for i in range(0, len(days), size)]


def recompute_incrementally(duckdb: DuckDBResource, spec: Incremental,
                            compute: Callable[[list], tuple[dict[str, pd.DataFrame], object]]) -> Recomputed:
    """Recompute what the change log says ``spec.asset`` must, chunk by chunk, and replace those days
    of its tables together with its log entry in one transaction (a failure changes nothing).

    ``compute`` takes the inputs (``spec.tables`` then ``spec.whole_tables``) and returns the output
    tables, each with a ``date`` column, and anything else the asset wants to report."""
    with duckdb.get_connection() as conn:
        recompute = changes.plan(conn, spec.asset, spec.upstreams, spec.settings)
        done = Recomputed(recompute)
        if recompute.nothing:
            return done
        since = recompute.since
        days = conn.execute("SELECT DISTINCT date FROM price_history" + (" WHERE date >= ?" if since is not None else "") + " ORDER BY 1",
                            [since.date()] if since is not None else []).df()["date"].to_numpy()
        symbols = conn.execute("SELECT count(DISTINCT symbol) FROM price_history").fetchall()[0][0]
        whole = [read_table(conn, t) for t in spec.whole_tables]
        created: set[str] = set()
        conn.execute("BEGIN TRANSACTION")
        try:
            bounds = chunk_bounds(days, symbols)
            for number, (first, last) in enumerate(bounds):
                read_from = spec.lookback(conn, first)
                frames = [read_table(conn, t, since=read_from, until=last) for t in spec.tables]
                outputs, extra = compute(frames + whole)
                for name, frame in outputs.items():
                    part = frame[(frame["date"] >= first) & (frame["date"] <= last)].reset_index(drop=True)
                    done.rows[name] = done.rows.get(name, 0) + len(part)
                    done.newest[name] = part
                    if name in created:
                        write_rows(conn, name, part, create=False)
                    elif since is not None and table_exists(conn, name):
                        replace_rows_from(conn, name, part, since)  # the first chunk starts at since
                        created.add(name)
                    elif not part.empty or number == len(bounds) - 1:
                        write_rows(conn, name, part, create=True)
                        created.add(name)
                    # else: an empty first chunk waits, so the table is created from rows that carry its column types
                done.chunks.append((first, last, read_from))
                done.extras.append(extra)
            changes.record(conn, spec.asset, recompute, spec.settings, since, recompute.whole)
            conn.execute("COMMIT")
        except Exception:
            conn.execute("ROLLBACK")
            raise
    return done


def stored_query(duckdb: DuckDBResource, query: str) -> pd.DataFrame:
    """The result of ``query`` on the stored tables (for metadata that describes a whole table)."""
    with duckdb.get_connection() as conn:
        return conn.execute(query).df()


