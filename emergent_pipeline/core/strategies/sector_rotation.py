"""Sector rotation: the leaders of the sectors money is rotating into.

Sectors come from the universe table (GICS). Each day, sectors are ranked by their equal-weight
60-day return, its change over 20 bars (acceleration) and their breadth (share of members above
SMA50), all from bars up to D.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from emergent_pipeline.core.strategies.base import fires, label, make_signals, num, pct, squash, text

NAME = "sector_rotation"


@dataclass(frozen=True)
class Params:
    top_sectors: int = 3
    acceleration_bars: int = 20
    min_sector_members: int = 5
    stop_atr: float = 2.5
    min_target_gain: float = 0.08
    validity_days: int = 20
    confidence_scale: float = 0.10


def sector_scores(panel: pd.DataFrame, params: Params = Params()) -> pd.DataFrame:
    """Per (date, sector): ret_60, ret_30 (member means), acceleration, breadth, members, rank (1 = best)."""
    grouped = panel.assign(above_50=(panel["close"] > panel["sma_50"]).astype(float)).groupby(["sector", "date"], observed=True)
    sectors = grouped.agg(
        sector_ret_60=("ret_60", "mean"), sector_ret_30=("ret_30", "mean"), breadth=("above_50", "mean"),
        members=("ret_60", "count"),
    ).reset_index()
    sectors["acceleration"] = sectors["sector_ret_60"] - sectors.groupby("sector", observed=True)["sector_ret_60"].shift(params.acceleration_bars)
    eligible = sectors["members"] >= params.min_sector_members
    ranks = sectors[eligible].groupby("date")[["sector_ret_60", "acceleration", "breadth"]].rank(ascending=False)
    composite = ranks.sum(axis=1, min_count=3)
    sectors["rank"] = composite.groupby(sectors.loc[eligible, "date"]).rank(method="first")
    return sectors


def generate(panel: pd.DataFrame, params: Params = Params()) -> pd.DataFrame:
    """BUY for members of the top-3 sectors whose 60-day return and acceleration are positive, when
    the stock's 30-day return beats its sector's. Stop entry - 2.5 ATR; target entry × (1 + max(half
    the sector's 60-day return, 8 %)); 20 days."""
    sectors = sector_scores(panel, params)
    rows = panel[["sector", "date"]].merge(sectors, on=["sector", "date"], how="left")
    rows.index = panel.index
    close, atr = panel["close"], panel["atr_14"]
    excess = panel["ret_30"] - rows["sector_ret_30"]
    mask = fires(
        rows["rank"] <= params.top_sectors,
        rows["sector_ret_60"] > 0,
        rows["acceleration"] > 0,
        excess > 0,
        atr > 0,
    )
    gain = np.maximum(rows["sector_ret_60"] / 2.0, params.min_target_gain)
    panel = panel.assign(**{c: rows[c] for c in ["sector_ret_60", "acceleration", "breadth", "rank", "sector_ret_30"]})
    return make_signals(
        panel, mask, NAME, "BUY", squash(excess, params.confidence_scale),
        target=close * (1.0 + gain), stop=close - params.stop_atr * atr, validity_days=params.validity_days,
        reason=lambda r: text(label(r["sector"]), " ranked ", num(r["rank"], 0), ", 30d return ", pct(r["ret_30"]), " vs sector ", pct(r["sector_ret_30"])),
        indicator_columns=["sector_ret_60", "acceleration", "breadth", "rank", "ret_30", "sector_ret_30", "atr_14"],
    )
