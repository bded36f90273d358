"""Consensus: what enough of the ten strategies agree on, per symbol and day.

A strategy's signal stays active for its validity (in bars of that symbol, counting the day it
fires); on day D the consensus is taken over the strategies with an active signal, each counted
once with its newest signal. ``same_day_only`` counts only signals fired on D. Everything is a
matrix of (symbol-day × strategy), so no loop runs over rows.

A symbol gets a consensus signal on the first day it qualifies, and again only after it stopped
qualifying (or its direction flipped).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

DEFAULT_WEIGHTS = {
    "momentum": 0.15, "breakout": 0.13, "mean_reversion": 0.12, "value": 0.11, "swing": 0.10,
    "fundamental_growth": 0.09, "multibagger": 0.08, "low_volatility": 0.08, "sector_rotation": 0.07,
    "pivot_cpr": 0.07,
}
TIERS = ("HIGH", "MEDIUM", "LOW")


@dataclass(frozen=True)
class ConsensusParams:
    min_supporters: int = 3
    min_agreement: float = 0.5
    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    confidence_weight: float = 0.4
    agreement_weight: float = 0.3
    supporters_weight: float = 0.3
    strategy_count: int = 10
    high_tier: float = 0.75
    medium_tier: float = 0.60
    min_composite: float = 0.45
    same_day_only: bool = False


@dataclass
class ConsensusResult:
    signals: pd.DataFrame
    """One row per consensus signal, with each strategy's vote (+1/-1/0) and confidence."""
    breakdown: pd.DataFrame
    """Per consensus signal and active strategy: type, confidence, weight, reason, agrees."""
    qualifying_days: int
    """Symbol-days that qualified (before keeping only the first day of each run)."""


def active_signal_matrix(grid: pd.DataFrame, signals: pd.DataFrame, strategies: list[str], same_day_only: bool) -> np.ndarray:
    """(grid rows × strategies) matrix of the row number in ``signals`` of each strategy's newest
    signal active on that symbol-day, -1 where none."""
    keyed = signals.reset_index(drop=True).merge(
        grid[["symbol", "date", "bar"]].reset_index(names="grid_row"), on=["symbol", "date"], how="inner"
    )
    ids = np.full((len(grid), len(strategies)), -1, dtype=np.int64)
    symbols = grid["symbol"]
    for column, name in enumerate(strategies):  # ten strategies: a loop over columns, not rows
        own = keyed[keyed["strategy"] == name]
        if own.empty:
            continue
        fired = pd.Series(np.nan, index=grid.index)
        fired.iloc[own["grid_row"].to_numpy()] = own.index.to_numpy()
        if not same_day_only:
            fired = fired.groupby(symbols).ffill(limit=int(own["validity_days"].max()) - 1)
        found = fired.notna().to_numpy()
        signal_rows = fired.to_numpy()[found].astype(np.int64)
        age = grid["bar"].to_numpy()[found] - keyed["bar"].to_numpy()[signal_rows]
        still_valid = age < keyed["validity_days"].to_numpy()[signal_rows]
        ids[np.flatnonzero(found)[still_valid], column] = keyed.index.to_numpy()[signal_rows[still_valid]]
    return ids, keyed


def compute_consensus(prices: pd.DataFrame, signals: pd.DataFrame, params: ConsensusParams = ConsensusParams()) -> ConsensusResult:
    """Consensus signals from ``signals`` (all strategies) over the bars of ``prices``."""
    strategies = list(params.weights)
    grid = prices[["symbol", "date", "close"]].sort_values(["symbol", "date"], kind="mergesort").reset_index(drop=True)
    grid["bar"] = grid.groupby("symbol").cumcount()
    ids, keyed = active_signal_matrix(grid, signals, strategies, params.same_day_only)
    has = ids >= 0
    safe = np.where(has, ids, 0)

    direction = np.where(has, np.where(keyed["signal_type"].to_numpy()[safe] == "BUY", 1, -1), 0)
    confidence = np.where(has, keyed["confidence"].to_numpy(dtype="float64")[safe], np.nan)
    weights = np.array([params.weights[s] for s in strategies])
    buys, sells = (direction == 1).sum(axis=1), (direction == -1).sum(axis=1)
    active = buys + sells
    supporters = np.maximum(buys, sells)
    majority = np.where(buys > sells, 1, np.where(sells > buys, -1, 0))
    with np.errstate(invalid="ignore", divide="ignore"):
        agreement = supporters / active
    agrees = (direction == majority[:, None]) & has & (majority[:, None] != 0)
    # Levels and confidence only where the counts already allow a consensus (a few % of rows).
    candidate = (majority != 0) & (supporters >= params.min_supporters) & (agreement >= params.min_agreement)
    consensus_confidence = np.full(len(grid), np.nan)
    target, stop, validity = (np.full(len(grid), np.nan) for _ in range(3))
    if candidate.any():
        rows_c, agree_c = np.flatnonzero(candidate), agrees[candidate]
        weighted = np.where(agree_c, confidence[candidate] * weights, 0.0).sum(axis=1)
        consensus_confidence[rows_c] = weighted / (weights * agree_c).sum(axis=1)
        for out, column in ((target, "target_price"), (stop, "stop_loss"), (validity, "validity_days")):
            values = keyed[column].to_numpy(dtype="float64")[safe[candidate]]
            out[rows_c] = np.nanmedian(np.where(agree_c, values, np.nan), axis=1)
    entry = grid["close"].to_numpy()
    composite = (
        params.confidence_weight * consensus_confidence
        + params.agreement_weight * agreement
        + params.supporters_weight * supporters / params.strategy_count
    )
    levels_make_sense = np.where(majority == 1, (target > entry) & (stop < entry), (target < entry) & (stop > entry))
    qualifies = candidate & levels_make_sense & (composite >= params.min_composite)
    state = pd.Series(np.where(qualifies, majority, 0), index=grid.index)
    previous = state.groupby(grid["symbol"]).shift(1).fillna(0).to_numpy()
    emit = qualifies & (state.to_numpy() != previous)
    rows = np.flatnonzero(emit)

    out = grid.loc[rows, ["symbol", "date"]].reset_index(drop=True)
    out["signal_type"] = np.where(majority[rows] == 1, "BUY", "SELL")
    out["consensus_confidence"] = consensus_confidence[rows]
    out["agreement"] = agreement[rows]
    out["supporters"] = supporters[rows]
    out["strategies_active"] = active[rows]
    out["entry_price"] = entry[rows]
    out["target_price"] = target[rows]
    out["stop_loss"] = stop[rows]
    out["validity_days"] = validity[rows].round().astype(int) if len(rows) else pd.Series(dtype=int)
    out["composite_score"] = composite[rows]
    out["quality_tier"] = np.select(
        [composite[rows] >= params.high_tier, composite[rows] >= params.medium_tier], ["HIGH", "MEDIUM"], "LOW"
    )
    names = np.array(strategies)
    out["strategies"] = [",".join(names[a]) for a in agrees[rows]] if len(rows) else []
    for column, name in enumerate(strategies):
        out[f"{name}_vote"] = direction[rows, column]
        out[f"{name}_confidence"] = np.where(has[rows, column], confidence[rows, column], 0.0)

    signal_row, strategy_column = np.nonzero(has[rows])
    picked = keyed.iloc[ids[rows][signal_row, strategy_column]]
    breakdown = pd.DataFrame(
        {
            "symbol": out["symbol"].to_numpy()[signal_row],
            "date": out["date"].to_numpy()[signal_row],
            "strategy": names[strategy_column],
            "signal_type": picked["signal_type"].to_numpy(),
            "confidence": picked["confidence"].to_numpy(),
            "weight": weights[strategy_column],
            "agrees": agrees[rows][signal_row, strategy_column],
            "fired_on": picked["date"].to_numpy(),
            "reason": picked["reason"].to_numpy(),
        }
    )
    return ConsensusResult(signals=out, breakdown=breakdown, qualifying_days=int(qualifies.sum()))
