"""How a fetch from a price source becomes the new ``price_history`` table.

The rule that keeps data safe: the new table is computed in full before anything is written, and
any failure raises before the write, so the stored history stays exactly as it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from emergent_pipeline.core.ohlcv import OHLCV_COLUMNS, empty_ohlcv, merge_new_bars, validate_ohlcv


class PriceUpdateError(RuntimeError):
    """The fetch gave nothing usable; the stored history must not be touched."""


@dataclass
class PriceUpdate:
    table: pd.DataFrame
    added: pd.DataFrame
    rejected: pd.DataFrame
    failures: dict[str, str] = field(default_factory=dict)
    requested: int = 0


def apply_fetch(
    stored: pd.DataFrame | None, raw: pd.DataFrame, failures: dict[str, str], requested: int, incremental: bool
) -> PriceUpdate:
    """Validate ``raw`` and merge it into ``stored`` (incremental sources) or replace it (others).

    Raises :class:`PriceUpdateError` when every requested symbol failed to download, or when the
    result would hold no usable bar at all, with the reasons in the message.
    """
    stored = empty_ohlcv() if stored is None else stored[OHLCV_COLUMNS]
    if requested and len(failures) >= requested and raw.empty:
        sample = "; ".join(f"{s}: {why}" for s, why in list(failures.items())[:5])
        raise PriceUpdateError(
            f"every one of the {requested} requested symbols failed ({sample}); stored history left as it was"
        )
    checked = validate_ohlcv(raw)
    if incremental:
        table, added = merge_new_bars(stored, checked.accepted)
    else:
        table, added = checked.accepted, checked.accepted
    if table.empty:
        reasons = checked.rejected["reason"].value_counts().to_dict() if not checked.rejected.empty else {}
        raise PriceUpdateError(
            f"no usable price row: {len(raw)} rows read, {len(checked.rejected)} rejected {reasons}"
        )
    return PriceUpdate(table=table, added=added, rejected=checked.rejected, failures=failures, requested=requested)
