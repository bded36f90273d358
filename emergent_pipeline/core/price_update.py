"""How a fetch from a price source becomes the new ``price_history`` table.

The rule that keeps data safe: the new table is computed in full before anything is written, and
any failure raises before the write, so the stored history stays exactly as it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from emergent_pipeline.core.ohlcv import OHLCV_COLUMNS, empty_ohlcv, merge_new_bars, validate_ohlcv


@dataclass
class PriceFetch:
    """What a source handed over: raw bars (not yet validated), and per symbol why it got none.

    ``errored`` names the symbols whose download raised (network, provider errors), as opposed to
    symbols for which the provider simply had no new bar.
    """

    raw: pd.DataFrame
    failures: dict[str, str] = field(default_factory=dict)
    errored: set[str] = field(default_factory=set)
    requested: int = 0
    replaced: set[str] = field(default_factory=set)
    """Symbols whose whole history was fetched again (a split): their stored bars are replaced."""


class PriceUpdateError(RuntimeError):
    """The fetch gave nothing usable; the stored history must not be touched."""


@dataclass
class PriceUpdate:
    table: pd.DataFrame
    added: pd.DataFrame
    rejected: pd.DataFrame
    failures: dict[str, str] = field(default_factory=dict)
    requested: int = 0


def apply_fetch(stored: pd.DataFrame | None, fetch: PriceFetch, incremental: bool) -> PriceUpdate:
    """Validate the fetched bars and merge them into ``stored`` (incremental sources) or replace it.

    Raises :class:`PriceUpdateError`, with the reasons, when the download raised for every requested
    symbol, or when the result would hold no usable bar at all. A provider that simply has no new
    bar yet (a holiday) is not an error: nothing is added and the failures are reported.
    """
    stored = empty_ohlcv() if stored is None else stored[OHLCV_COLUMNS]
    if fetch.requested and len(fetch.errored) >= fetch.requested:
        sample = "; ".join(f"{s}: {fetch.failures[s]}" for s in sorted(fetch.errored)[:5])
        raise PriceUpdateError(
            f"every one of the {fetch.requested} requested symbols failed ({sample}); stored history left as it was"
        )
    raw = fetch.raw
    checked = validate_ohlcv(raw)
    if incremental:
        kept = stored[~stored["symbol"].isin(fetch.replaced)] if fetch.replaced else stored
        table, added = merge_new_bars(kept, checked.accepted)
    else:
        table, added = checked.accepted, checked.accepted
    if table.empty:
        reasons = checked.rejected["reason"].value_counts().to_dict() if not checked.rejected.empty else {}
        raise PriceUpdateError(
            f"no usable price row: {len(raw)} rows read, {len(checked.rejected)} rejected {reasons}"
        )
    return PriceUpdate(
        table=table, added=added, rejected=checked.rejected, failures=fetch.failures, requested=fetch.requested
    )
