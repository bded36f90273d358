"""The source step's short way for a source that hands over its whole history: when the fetch only
added days (``core.price_append``), only those days are split-checked and written, and the index
is extended from its stored close; anything else takes the whole history, as before, and says why."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from dagster_duckdb import DuckDBResource

from emergent_pipeline import changes
from emergent_pipeline.core.benchmark import extended_equal_weight_index
from emergent_pipeline.core.price_append import HashedBars, appended_rows, recent_jumps, symbol_fingerprints, window_days
from emergent_pipeline.storage import read_table, table_exists

FINGERPRINTS = "price_fingerprints"
"""The table of each symbol's fingerprint (``core.price_append.symbol_fingerprints``), written with the prices."""


@dataclass
class Appended:
    """Days added to an unchanged history: only they (and the index's new days) are written."""

    table: pd.DataFrame
    """The new bars only (possibly none); the stored ones are kept as they are."""
    index: pd.DataFrame
    """The equal-weight index's new days only, or the configured index whole."""
    jumps: pd.DataFrame


def fingerprints_of(prices: pd.DataFrame, listed: pd.DataFrame, adjusts: bool, origin: str, hashed: HashedBars) -> pd.DataFrame:
    """The fingerprints of validated ``prices`` with the listed actions applied to them and what else
    decides how they are stored (whether detected splits are adjusted, which index judges them)."""
    return symbol_fingerprints(prices, listed, f"adjust_splits={adjusts}; index={origin}", hashed)


def read_fingerprints(conn) -> pd.DataFrame | None:
    return read_table(conn, FINGERPRINTS)


def try_append(duckdb: DuckDBResource, members: pd.DataFrame, prices: pd.DataFrame, hashed: HashedBars, fingerprints: pd.DataFrame,
               stored: pd.DataFrame | None, index: pd.DataFrame | None, origin: str) -> tuple[Appended | None, str]:
    """(what to write, why not): the short way when ``prices`` only adds days to the stored history
    and nothing about the newest stored days can change; else None and the reason in words."""
    new, why = appended_rows(prices, fingerprints, stored, hashed)
    if new is None:
        return None, why
    with duckdb.get_connection() as conn:
        if not table_exists(conn, "price_history") or changes.first_changed_day(conn, "universe", members, None)[0]:
            return None, "the universe changed"
        newest = pd.Timestamp(conn.execute("SELECT max(date) FROM price_history").fetchall()[0][0])
        start = changes.lookback_start(conn, newest + pd.Timedelta(days=1), window_days())
        window = read_table(conn, "price_history", since=start)
        if index is not None:
            whole, first = changes.first_changed_day(conn, "benchmark_history", index.assign(index_name=origin), "date", key=["date"])
            if whole or (first is not None and first <= newest):
                return None, "the configured index changed on a stored day"
            last = None
        else:  # the equal-weight index is extended from its newest stored close
            last_day, last_close = conn.execute("SELECT date, close FROM benchmark_history ORDER BY date DESC LIMIT 1").fetchone()
            last = pd.Series({"date": pd.Timestamp(last_day), "close": last_close})
    jumps, why = recent_jumps(window, prices[(prices["date"] >= start) & (prices["date"] <= newest)], new, index)
    if jumps is None:
        return None, why
    if len(jumps):
        return None, f"a split-like jump ({jumps['symbol'].iloc[0]} on {jumps['date'].iloc[0]:%Y-%m-%d}) among the newest days"
    if last is not None:
        recent = pd.concat([window[window["date"] == last["date"]], new], ignore_index=True)
        index = extended_equal_weight_index(last, recent, pd.Index(fingerprints["symbol"]))
    return Appended(new, index, jumps), ""
