"""Value: cheap on point-in-time fundamentals against its sector, while the price holds up.

Needs the statement usable on D (see ``strategy_panel``): P/E from EPS on the price's share basis,
P/B from the market cap at D over the statement's equity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from emergent_pipeline.core.strategies.base import fires, make_signals, num, squash, text

NAME = "value"


@dataclass(frozen=True)
class Params:
    max_pe: float = 15.0
    """Largest point-in-time P/E on D (it must also be below its sector's median P/E)."""
    max_pb: float = 2.0
    """Largest point-in-time price / book on D."""
    low_band: float = 0.10
    """The close must be more than this above its 200-day low (0.10 = 10 %)."""
    stop_fraction: float = 0.85
    """Stop = this × entry."""
    max_target_multiple: float = 1.5
    """Target = min(this × entry, EPS × the sector's median P/E)."""
    validity_days: int = 60
    confidence_scale: float = 1.0


def sector_median(panel: pd.DataFrame, column: str) -> np.ndarray:
    """Per row, the median of ``column`` over the day's members of its sector that have a value
    (NaN without a value or a sector). Only the rows with a value are grouped, on integer keys."""
    values = panel[column].to_numpy(dtype="float64")
    sector = panel["sector"].cat.codes.to_numpy()
    rows = np.flatnonzero(~np.isnan(values) & (sector >= 0))
    out = np.full(len(values), np.nan)
    if len(rows):  # only days with point-in-time fundamentals have a sector P/E
        keys = pd.DataFrame({"day": panel["day"].to_numpy()[rows], "sector": sector[rows], "value": values[rows]})
        out[rows] = keys.groupby(["day", "sector"])["value"].transform("median").to_numpy()
    return out


def generate(panel: pd.DataFrame, params: Params = Params()) -> pd.DataFrame:
    """BUY when P/E at D <= 15 and below its sector's median P/E on D, P/B <= 2, and the close is
    more than 10 % above its 200-day low. Stop 0.85 × entry; target min(1.5 × entry, fair value)
    with fair value = EPS × sector median P/E; 60 days."""
    close = panel["close"]
    sector_pe = pd.Series(sector_median(panel, "pe_pit"), index=panel.index)
    fair_value = panel["eps"] * sector_pe
    target = np.minimum(params.max_target_multiple * close, fair_value)
    mask = fires(
        panel["pe_pit"] <= params.max_pe,
        panel["pe_pit"] < sector_pe,
        panel["pb_pit"] <= params.max_pb,
        close > panel["low_200"] * (1.0 + params.low_band),
        target > close,
    )
    discount = 1.0 - panel["pe_pit"] / sector_pe
    extra = {"sector_pe": sector_pe}
    return make_signals(
        panel, mask, NAME, "BUY", squash(discount + (params.max_pb - panel["pb_pit"]) / params.max_pb, params.confidence_scale),
        target=target, stop=params.stop_fraction * close, validity_days=params.validity_days,
        reason=lambda r: text("P/E ", num(r["pe_pit"], 1), " vs sector ", num(r["sector_pe"], 1), ", P/B ", num(r["pb_pit"])),
        indicator_columns=["pe_pit", "sector_pe", "pb_pit", "eps", "low_200"],
        extra=extra,
    )
