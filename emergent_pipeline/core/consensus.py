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

from emergent_pipeline.core.indicators import SymbolBlocks, locate_rows, sorted_panel
from emergent_pipeline.core.recommendations import QUALITY_SCALE
from emergent_pipeline.core.strategies.registry import DEFAULT_WEIGHTS


@dataclass(frozen=True)
class ConsensusParams:
    min_supporters: int = 3
    min_agreement: float = 0.5
    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    confidence_weight: float = 0.4
    agreement_weight: float = 0.3
    supporters_weight: float = 0.3
    high_tier: float = QUALITY_SCALE["HIGH"]
    medium_tier: float = QUALITY_SCALE["MEDIUM"]
    min_composite: float = QUALITY_SCALE["LOW"]
    same_day_only: bool = False

    @property
    def strategy_count(self) -> int:
        """The strategies that can vote (one weight each): supporters are counted out of these."""
        return len(self.weights)

    def composite_formula(self) -> str:
        """The composite score and its cut-off, in words, with these parameters' numbers."""
        return (f"{self.confidence_weight:g}·consensus_confidence + {self.agreement_weight:g}·agreement + "
                f"{self.supporters_weight:g}·supporters/{self.strategy_count} (0–1); signals below {self.min_composite:.2f} are dropped")

    def tier_rule(self) -> str:
        return f"HIGH (composite_score ≥ {self.high_tier:.2f}), MEDIUM (≥ {self.medium_tier:.2f}) or LOW"


@dataclass
class ConsensusResult:
    signals: pd.DataFrame
    """One row per consensus signal, with each strategy's vote (+1/-1/0) and confidence."""
    breakdown: pd.DataFrame
    """Per consensus signal and active strategy: type, confidence, weight, reason, agrees."""
    qualifying_days: int
    """Symbol-days that qualified (before keeping only the first day of each run)."""


def row_nanmedian(values: np.ndarray) -> np.ndarray:
    """``np.nanmedian(values, axis=1)`` (NaN for a row with no value) from one sort of the matrix:
    numpy's own takes a slow masked path on a wide matrix of short rows."""
    ordered = np.sort(values, axis=1)  # NaN sort last
    count = (~np.isnan(values)).sum(axis=1)
    rows = np.arange(len(values))
    low, high = ordered[rows, (count - 1) // 2], ordered[rows, count // 2]  # the same element when the count is odd
    return np.where(count > 0, (low + high) / 2.0, np.nan)


def active_signal_matrix(grid: pd.DataFrame, signals: pd.DataFrame, strategies: list[str], same_day_only: bool) -> tuple[np.ndarray, pd.DataFrame]:
    """(grid rows × strategies) matrix of the row number in the returned signals frame of each
    strategy's newest signal active on that symbol-day, -1 where none.

    ``grid`` is ordered by (symbol, date) with ``bar`` numbering each symbol's bars. A signal is
    active from its bar for ``validity_days`` bars; the newest one wins.
    """
    position = locate_rows(grid, signals["symbol"], signals["date"])
    on_grid = position >= 0
    keyed = signals[on_grid].reset_index(drop=True)
    grid_row = position[on_grid]
    # A symbol's bars are consecutive rows, so "within validity bars, same symbol" is "before the row
    # where the signal expires": its own row + validity, or the symbol's end, whichever comes first.
    symbol_end = SymbolBlocks.from_positions(grid["bar"].to_numpy()).ends
    end_of_row = np.repeat(symbol_end, np.diff(np.r_[0, symbol_end]))
    expires = np.minimum(grid_row + keyed["validity_days"].to_numpy(dtype="int64"), end_of_row[grid_row])

    ids = np.full((len(grid), len(strategies)), -1, dtype=np.int64, order="F")  # filled a whole column at a time
    strategy_codes, strategy_names = pd.factorize(keyed["strategy"])  # compare small integers, not 260 k strings
    strategy_of = np.r_[pd.Index(strategies).get_indexer(strategy_names), -1][strategy_codes]
    rows = np.arange(len(grid))
    for column in range(len(strategies)):  # ten strategies: a loop over columns, not rows
        own = np.flatnonzero(strategy_of == column)
        if own.size == 0:
            continue
        signal_at = np.full(len(grid), -1, dtype=np.int64)
        signal_at[grid_row[own]] = own
        expires_at = np.zeros(len(grid), dtype=np.int64)
        expires_at[grid_row[own]] = expires[own]
        # The newest firing at or before each row (a running maximum of firing rows; with
        # same_day_only, only a firing on the row itself) counts until it expires.
        fired_row = np.where(signal_at >= 0, rows, -1)
        newest = fired_row if same_day_only else np.maximum.accumulate(fired_row)
        at = np.maximum(newest, 0)
        ids[:, column] = np.where((newest >= 0) & (rows < expires_at[at]), signal_at[at], -1)
    return ids, keyed


def compute_consensus(prices: pd.DataFrame, signals: pd.DataFrame, params: ConsensusParams = ConsensusParams()) -> ConsensusResult:
    """Consensus signals from ``signals`` (all strategies) over the bars of ``prices``."""
    strategies = list(params.weights)
    grid = sorted_panel(prices)
    all_ids, keyed = active_signal_matrix(grid, signals, strategies, params.same_day_only)
    # Only symbol-days with enough active strategies can qualify; the rest of the work is on them.
    considered = np.flatnonzero((all_ids >= 0).sum(axis=1) >= params.min_supporters)
    ids = all_ids[considered]
    has = ids >= 0
    safe = np.where(has, ids, 0)

    signal_direction = np.where((keyed["signal_type"] == "BUY").to_numpy(dtype=bool), 1, -1).astype(np.int8)
    direction = np.where(has, signal_direction[safe], 0).astype(np.int8)
    confidence = np.where(has, keyed["confidence"].to_numpy(dtype="float64")[safe], np.nan)
    weights = np.array([params.weights[s] for s in strategies])
    buys, sells = (direction == 1).sum(axis=1), (direction == -1).sum(axis=1)
    active = buys + sells
    supporters = np.maximum(buys, sells)
    majority = np.where(buys > sells, 1, np.where(sells > buys, -1, 0))
    agreement = supporters / active
    agrees = (direction == majority[:, None]) & has & (majority[:, None] != 0)
    candidate = (majority != 0) & (supporters >= params.min_supporters) & (agreement >= params.min_agreement)
    consensus_confidence = np.full(len(ids), np.nan)
    target, stop, validity = (np.full(len(ids), np.nan) for _ in range(3))
    if candidate.any():
        rows_c, agree_c = np.flatnonzero(candidate), agrees[candidate]
        weighted = np.where(agree_c, confidence[candidate] * weights, 0.0).sum(axis=1)
        consensus_confidence[rows_c] = weighted / (weights * agree_c).sum(axis=1)
        for out, column in ((target, "target_price"), (stop, "stop_loss"), (validity, "validity_days")):
            values = keyed[column].to_numpy(dtype="float64")[safe[candidate]]
            out[rows_c] = row_nanmedian(np.where(agree_c, values, np.nan))
    entry = grid["close"].to_numpy()[considered]
    composite = (
        params.confidence_weight * consensus_confidence
        + params.agreement_weight * agreement
        + params.supporters_weight * supporters / params.strategy_count
    )
    levels_make_sense = np.where(majority == 1, (target > entry) & (stop < entry), (target < entry) & (stop > entry))
    qualifies = candidate & levels_make_sense & (composite >= params.min_composite)

    # First day of each run of qualification (per symbol and direction), on the full grid.
    state = np.zeros(len(grid), dtype=np.int8)
    state[considered[qualifies]] = majority[qualifies]
    previous = np.r_[0, state[:-1]]
    previous[grid["bar"].to_numpy() == 0] = 0  # a symbol's first bar has no yesterday
    emit_full = (state != 0) & (state != previous)
    rows = np.flatnonzero(emit_full[considered])  # positions within the considered rows
    grid_rows = considered[rows]

    names = np.array(strategies)
    out = pd.DataFrame({"symbol": grid["symbol"].to_numpy()[grid_rows].astype(str), "date": grid["date"].to_numpy()[grid_rows]})
    out["signal_type"] = np.where(majority[rows] == 1, "BUY", "SELL")
    out["consensus_confidence"] = consensus_confidence[rows]
    out["agreement"] = agreement[rows]
    out["supporters"] = supporters[rows]
    out["strategies_active"] = active[rows]
    out["entry_price"] = entry[rows]
    out["target_price"] = target[rows]
    out["stop_loss"] = stop[rows]
    out["validity_days"] = validity[rows].round().astype(int)
    out["composite_score"] = composite[rows]
    out["quality_tier"] = np.select(
        [composite[rows] >= params.high_tier, composite[rows] >= params.medium_tier], ["HIGH", "MEDIUM"], "LOW"
    )
    joined = np.full(len(rows), "", dtype=object)
    for column, name in enumerate(strategies):  # ten columns; each step is vectorised over rows
        joined = joined + np.where(agrees[rows, column], name + ",", "")
    out["strategies"] = pd.Series(joined, dtype="str").str.rstrip(",")
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
