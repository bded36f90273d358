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
    """Members of the sectors ranked this high or better (60-day return, acceleration, breadth) may fire."""
    acceleration_bars: int = 20
    """Acceleration = change of the sector's 60-day return over this many bars."""
    min_sector_members: int = 5
    """Sectors with fewer members that day are not ranked."""
    min_acceleration: float = 1e-9
    """Acceleration must exceed this: a flat sector return differs from itself only by rounding."""
    stop_atr: float = 2.5
    min_target_gain: float = 0.08
    """Target = entry × (1 + max(half the sector's 60-day return, this))."""
    validity_days: int = 20
    confidence_scale: float = 0.10


def cross_section_mean(values: np.ndarray, group: np.ndarray, day: np.ndarray, groups: int, days: int) -> np.ndarray:
    """(groups × days) mean of ``values`` per group and day, NaN where no member has a value."""
    valid = ~np.isnan(values) & (group >= 0)
    key = group[valid] * days + day[valid]
    total = np.bincount(key, weights=values[valid], minlength=groups * days)
    count = np.bincount(key, minlength=groups * days)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (total / count).reshape(groups, days)


def sector_scores(panel: pd.DataFrame, params: Params = Params()) -> dict[str, np.ndarray]:
    """(sectors × days) matrices: sector_ret_60 and sector_ret_30 (member means), acceleration
    (change of sector_ret_60 over ``acceleration_bars`` days), breadth (share above SMA50), members,
    and rank (1 = best) among sectors with enough members, by the sum of the three ranks."""
    sector = panel["sector"].cat.codes.to_numpy().astype("int64")
    day = panel["day"].to_numpy()
    groups, days = len(panel["sector"].cat.categories), int(day.max()) + 1
    ret_60 = panel["ret_60"].to_numpy(dtype="float64")
    scores = {
        "sector_ret_60": cross_section_mean(ret_60, sector, day, groups, days),
        "sector_ret_30": cross_section_mean(panel["ret_30"].to_numpy(dtype="float64"), sector, day, groups, days),
        "breadth": cross_section_mean(
            np.where(panel["sma_50"].isna(), np.nan, (panel["close"] > panel["sma_50"]).astype(float)), sector, day, groups, days
        ),
        "members": np.bincount(sector[(sector >= 0) & ~np.isnan(ret_60)] * days + day[(sector >= 0) & ~np.isnan(ret_60)], minlength=groups * days).reshape(groups, days),
    }
    lagged = np.full_like(scores["sector_ret_60"], np.nan)
    lagged[:, params.acceleration_bars :] = scores["sector_ret_60"][:, : -params.acceleration_bars]
    scores["acceleration"] = scores["sector_ret_60"] - lagged
    eligible = scores["members"] >= params.min_sector_members
    ranked = [
        pd.DataFrame(np.where(eligible, scores[name], np.nan)).rank(axis=0, ascending=False).to_numpy()
        for name in ("sector_ret_60", "acceleration", "breadth")
    ]
    composite = ranked[0] + ranked[1] + ranked[2]  # NaN unless all three are known
    scores["rank"] = pd.DataFrame(composite).rank(axis=0, method="first").to_numpy()
    return scores


def generate(panel: pd.DataFrame, params: Params = Params()) -> pd.DataFrame:
    """BUY for members of the top-3 sectors whose 60-day return and acceleration are positive, when
    the stock's 30-day return beats its sector's. Stop entry - 2.5 ATR; target entry × (1 + max(half
    the sector's 60-day return, 8 %)); 20 days."""
    sector = panel["sector"].cat.codes.to_numpy()
    day = panel["day"].to_numpy()
    known = sector >= 0
    if not known.any():  # no sector information (a user's file without a universe): nothing to rank
        return make_signals(panel, np.zeros(len(panel), dtype=bool), NAME, "BUY", np.zeros(len(panel)), panel["close"],
                            panel["close"], params.validity_days, reason=lambda r: text(""), indicator_columns=[])
    scores = sector_scores(panel, params)
    rows = pd.DataFrame(
        {name: np.where(known, matrix[np.where(known, sector, 0), day], np.nan) for name, matrix in scores.items() if name != "members"},
        index=panel.index,
    )
    close, atr = panel["close"], panel["atr_14"]
    excess = panel["ret_30"] - rows["sector_ret_30"]
    mask = fires(
        rows["rank"] <= params.top_sectors,
        rows["sector_ret_60"] > 0,
        rows["acceleration"] > params.min_acceleration,
        excess > 0,
        atr > 0,
    )
    gain = np.maximum(rows["sector_ret_60"] / 2.0, params.min_target_gain)
    extra = dict(rows)
    return make_signals(
        panel, mask, NAME, "BUY", squash(excess, params.confidence_scale),
        target=close * (1.0 + gain), stop=close - params.stop_atr * atr, validity_days=params.validity_days,
        reason=lambda r: text(label(r["sector"]), " ranked ", num(r["rank"], 0), ", 30d return ", pct(r["ret_30"]), " vs sector ", pct(r["sector_ret_30"])),
        indicator_columns=["sector_ret_60", "acceleration", "breadth", "rank", "ret_30", "sector_ret_30", "atr_14"],
        extra=extra,
    )
