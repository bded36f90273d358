"""Whether a source that hands over its whole history every day has only added days to it.

A file source (a user's CSV or Parquet, the bundled panel) gives every bar every time. Validating,
split-checking and adjusting twenty years of bars to learn that one day was added makes the daily
refresh cost the history. So each symbol's bars, as validated and before any adjustment, leave a
fingerprint in the store (a sum of row hashes, with the symbol's listed corporate actions and the
source's settings). The next fetch is an *append* when every symbol's bars up to its stored newest
day hash to its stored fingerprint and every other bar lies after the newest stored day: the stored
bars are then exactly what a full pass would produce again, except where a day's split verdict can
still change — the recent days, whose following volumes and reversal days now include the new ones.

:func:`recent_jumps` judges those days on the stored window, as a full pass would judge them: the
window holds whole cross-sections (the market move of a day without an index is the median
symbol's), every symbol with a new day has two volume windows of bars in it, and no adjustment
touched it (stored bars equal the source's). When anything of this fails, or a split-like jump is
found, the caller processes the whole history, as before.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from emergent_pipeline.core.corporate_actions import SplitRule, split_jumps
from emergent_pipeline.core.ohlcv import OHLCV_COLUMNS, PRICE_COLUMNS

FINGERPRINT_COLUMNS = ["symbol", "through", "bars", "fingerprint"]
HASHED = ["date", *PRICE_COLUMNS, "volume"]


def window_days(rule: SplitRule = SplitRule()) -> int:
    """How many of the newest stored trading days :func:`recent_jumps` reads: a day's verdict can
    change while its ``volume_days`` following bars are incomplete, and judging it as the whole
    history does needs ``volume_days`` bars before it (plus a week of slack for gaps)."""
    return 2 * rule.volume_days + max(rule.reversal_days, 5)


def _text_hash(text: str) -> np.uint64:
    return pd.util.hash_array(np.array([text], dtype=object))[0]


@dataclass(frozen=True)
class HashedBars:
    """Each bar's symbol code (into ``symbols``, sorted) and 64-bit hash of its day and values:
    computed once for both the fingerprints and the comparison with the stored ones."""

    codes: np.ndarray
    symbols: pd.Index
    hashes: np.ndarray


def hashed_bars(prices: pd.DataFrame) -> HashedBars:
    codes, symbols = pd.factorize(prices["symbol"], sort=True)
    return HashedBars(codes, pd.Index(symbols.astype(str)), pd.util.hash_pandas_object(prices[HASHED], index=False).to_numpy())


def _wrapped_sums(codes: np.ndarray, values: np.ndarray, groups: int) -> np.ndarray:
    sums = np.zeros(groups, dtype="uint64")
    np.add.at(sums, codes, values)  # uint64 wraps: a sum modulo 2**64
    return sums


def symbol_fingerprints(prices: pd.DataFrame, actions: pd.DataFrame, settings: str, hashed: HashedBars | None = None) -> pd.DataFrame:
    """One row per symbol of validated ``prices``: its newest day (``through``), its bar count and
    the fingerprint of its bars, of its listed ``actions`` (``symbol, date, ratio``) and of
    ``settings`` (what else decides how bars are adjusted). Sums of 64-bit row hashes, wrapping:
    independent of row order, and the bars after a day can be subtracted out again."""
    hashed = hashed or hashed_bars(prices)
    codes, symbols, hashes = hashed.codes, hashed.symbols, hashed.hashes
    fingerprint = _wrapped_sums(codes, hashes, len(symbols)) + _text_hash(settings)
    if len(actions):
        acted = symbols.get_indexer(actions["symbol"].astype(str))
        known = acted >= 0
        fingerprint += _wrapped_sums(acted[known], pd.util.hash_pandas_object(actions[["date", "ratio"]], index=False).to_numpy()[known],
                                     len(symbols))
    through = np.full(len(symbols), np.iinfo("int64").min)
    np.maximum.at(through, codes, prices["date"].to_numpy(dtype="datetime64[ns]").view("int64"))
    return pd.DataFrame({"symbol": symbols, "through": through.view("datetime64[ns]"),
                         "bars": np.bincount(codes, minlength=len(symbols)), "fingerprint": fingerprint})


def appended_rows(prices: pd.DataFrame, now: pd.DataFrame, stored: pd.DataFrame | None,
                  hashed: HashedBars | None = None) -> tuple[pd.DataFrame | None, str]:
    """(the bars of ``prices`` after the stored ones, why not): the new bars when ``prices`` (with
    fingerprints ``now``) is the stored history plus days after its newest, else None and the reason."""
    if stored is None or stored.empty:
        return None, "no fingerprint of the stored bars yet"
    if set(now["symbol"]) != set(stored["symbol"]):
        return None, "symbols were added or removed"
    hashed = hashed or hashed_bars(prices)
    codes, symbols, hashes = hashed.codes, hashed.symbols, hashed.hashes
    before = stored.set_index("symbol").reindex(symbols)
    through = before["through"].to_numpy(dtype="datetime64[ns]")
    is_new = prices["date"].to_numpy(dtype="datetime64[ns]") > through[codes]
    added = _wrapped_sums(codes[is_new], hashes[is_new], len(symbols))
    now = now.set_index("symbol").reindex(symbols)
    same = (now["fingerprint"].to_numpy(dtype="uint64") - added == before["fingerprint"].to_numpy(dtype="uint64")) \
        & (now["bars"].to_numpy() - np.bincount(codes[is_new], minlength=len(symbols)) == before["bars"].to_numpy())
    if not same.all():
        changed = symbols[~same]
        return None, f"the stored days of {len(changed)} symbol(s) changed in the source (first: {changed[0]})"
    new = prices[is_new]
    if len(new) and new["date"].min() <= through.max():
        early = new.loc[new["date"].idxmin()]
        return None, f"{early['symbol']} gained a day ({early['date']:%Y-%m-%d}) not after the newest stored day"
    return new.reset_index(drop=True), ""


def recent_jumps(window: pd.DataFrame, source_window: pd.DataFrame, new: pd.DataFrame, benchmark: pd.DataFrame | None,
                 rule: SplitRule = SplitRule()) -> tuple[pd.DataFrame | None, str]:
    """(the split-like jumps on the newest stored days and the new ones, why they cannot be judged
    here): judged on the stored ``window`` (the newest :func:`window_days` trading days of every
    symbol) and the ``new`` bars, as a pass over the whole history would judge them — provided the
    window's bars equal the source's (``source_window``: no adjustment reached into it) and every
    symbol with a new day has two volume windows of bars in it."""
    keys = ["symbol", "date"]
    stored = window[OHLCV_COLUMNS].sort_values(keys, kind="mergesort").reset_index(drop=True)
    given = source_window[OHLCV_COLUMNS].sort_values(keys, kind="mergesort").reset_index(drop=True)
    if len(stored) != len(given) or not all(np.array_equal(stored[c].to_numpy(), given[c].to_numpy(), equal_nan=c != "symbol")
                                            for c in OHLCV_COLUMNS):
        return None, "a corporate action adjusted the newest stored days"
    bars = stored["symbol"].value_counts().reindex(new["symbol"].unique(), fill_value=0)
    short = bars[bars < 2 * rule.volume_days]
    if len(short):
        return None, f"{short.index[0]} has {short.iloc[0]} bars in the newest {window_days(rule)} trading days"
    combined = pd.concat([stored, new[OHLCV_COLUMNS]], ignore_index=True)
    return split_jumps(combined, benchmark, rule, judged_whole_only=True), ""
