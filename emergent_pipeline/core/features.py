"""Features of a consensus signal: only what is known at D's close.

From the consensus row (confidence, agreement, supporters, each strategy's vote and confidence),
the indicator panel at (symbol, D), the distances to target and stop in ATRs, the sector, point-in-time
fundamentals (size, earnings yield, book-to-market, ROE, EPS growth from the statement usable on D),
and the market context of D. Nothing derived from a label or from the whole sample (no normalisation over
all dates): a model trained on these can be used on D's signals before D+1 opens.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from emergent_pipeline.core.strategies.registry import DEFAULT_WEIGHTS
from emergent_pipeline.core.indicators import locate_rows
from emergent_pipeline.core.market_context import REGIMES, SIGNAL_CONTEXT, signal_context

STRATEGY_FEATURES = [f"{name}_{part}" for name in DEFAULT_WEIGHTS for part in ("vote", "confidence")]
CONSENSUS_FEATURES = ["consensus_confidence", "agreement", "supporters", "strategies_active", "composite_score", "is_buy"]
PANEL_FEATURES = ["rsi_14", "volume_ratio", "ret_20", "ret_60", "ret_126", "vol_20", "vol_60", "beta_60"]
DERIVED_FEATURES = [
    "atr_pct", "target_atr", "stop_atr", "reward_risk", "close_sma_20", "close_sma_50", "close_sma_200", "bb_position",
]
FUNDAMENTAL_FEATURES = ["log_market_cap", "earnings_yield", "book_to_market", "roe", "eps_growth"]
"""From the statement usable on D, priced at D's close (missing where no statement is usable)."""
CONTEXT_FEATURES = list(SIGNAL_CONTEXT.values())
SECTOR_FEATURE = "sector"
# A fixed vocabulary, so that a sector has the same code at training and at scoring whatever the
# universe holds (GICS sectors, with the pre-2018 name of Communication Services).
SECTORS = [
    "Communication Services", "Consumer Discretionary", "Consumer Staples", "Energy", "Financials", "Health Care",
    "Industrials", "Information Technology", "Materials", "Real Estate", "Telecommunication Services", "Utilities",
]
FEATURES = (CONSENSUS_FEATURES + STRATEGY_FEATURES + PANEL_FEATURES + DERIVED_FEATURES + FUNDAMENTAL_FEATURES
            + CONTEXT_FEATURES + [SECTOR_FEATURE])
CATEGORICAL_FEATURES = ["market_regime", SECTOR_FEATURE]


def build_features(consensus: pd.DataFrame, panel: pd.DataFrame, context: pd.DataFrame | None) -> pd.DataFrame:
    """The feature frame, one row per consensus signal (same index), columns :data:`FEATURES`.

    ``panel`` is the strategy panel (``build_strategy_panel``); ``context`` the market_context
    table. Categorical features are codes in a fixed vocabulary (missing when unknown).
    """
    rows = locate_rows(panel, consensus["symbol"], consensus["date"])
    if (rows < 0).any():
        raise ValueError(f"{int((rows < 0).sum())} consensus signals have no bar in the price panel")
    at = lambda column: panel[column].to_numpy(dtype="float64")[rows]  # noqa: E731
    close, atr = at("close"), at("atr_14")
    entry = consensus["entry_price"].to_numpy(dtype="float64")
    target = consensus["target_price"].to_numpy(dtype="float64")
    stop = consensus["stop_loss"].to_numpy(dtype="float64")
    with np.errstate(invalid="ignore", divide="ignore"):
        features = {
            **{c: consensus[c].to_numpy(dtype="float64") for c in CONSENSUS_FEATURES if c != "is_buy"},
            "is_buy": (consensus["signal_type"].to_numpy() == "BUY").astype("float64"),
            **{c: consensus[c].to_numpy(dtype="float64") if c in consensus else np.zeros(len(consensus)) for c in STRATEGY_FEATURES},
            **{c: at(c) for c in PANEL_FEATURES},
            "atr_pct": atr / close,
            "target_atr": np.abs(target - entry) / atr,
            "stop_atr": np.abs(entry - stop) / atr,
            "reward_risk": np.abs(target - entry) / np.abs(entry - stop),
            "close_sma_20": close / at("sma_20") - 1.0,
            "close_sma_50": close / at("sma_50") - 1.0,
            "close_sma_200": close / at("sma_200") - 1.0,
            "bb_position": (close - at("bb_lower")) / (at("bb_upper") - at("bb_lower")),
            "log_market_cap": np.log(np.where(at("market_cap_pit") > 0, at("market_cap_pit"), np.nan)),
            "earnings_yield": at("eps") / close,
            "book_to_market": at("total_equity") / at("market_cap_pit"),
            "roe": at("roe"),
            "eps_growth": at("eps_growth"),
        }
    frame = pd.DataFrame(features, index=consensus.index)
    frame = frame.join(_market_context(consensus, context))
    sector_of = pd.Series(panel["sector"].to_numpy()[rows].astype(object), index=consensus.index)
    frame[SECTOR_FEATURE] = pd.Categorical(sector_of, categories=SECTORS).codes.astype("float64")
    frame.loc[frame[SECTOR_FEATURE] < 0, SECTOR_FEATURE] = np.nan
    return frame[FEATURES]


def _market_context(consensus: pd.DataFrame, context: pd.DataFrame | None) -> pd.DataFrame:
    """The market context row of each signal's date (the context of D uses the index up to D)."""
    if context is None or context.empty:
        empty = pd.DataFrame(np.nan, index=consensus.index, columns=CONTEXT_FEATURES)
        return empty
    by_date = signal_context(context).set_index("date").reindex(pd.DatetimeIndex(consensus["date"]))
    numbers = by_date.assign(market_regime=pd.Categorical(by_date["market_regime"], categories=list(REGIMES)).codes)
    return pd.DataFrame(numbers[CONTEXT_FEATURES].astype("float64").to_numpy(), columns=CONTEXT_FEATURES, index=consensus.index)
