"""What a scored signal means for a user: the probability tiers and the recommendation, defined once.

The guide's tiers: ml_probability > 0.75 STRONG_BUY / HIGH, > 0.60 BUY / MEDIUM, > 0.45 WEAK_BUY /
LOW, else SKIP / POOR. The domain spec adds that a recommendation also needs a positive expected
return: a signal whose expected net return is not above zero is SKIP whatever its probability (a
near target behind a far stop can succeed often and still lose money on average).

The guide names the tiers for a BUY; a SELL signal's probability is that the short makes money, so
its tiers read STRONG_SELL / SELL / WEAK_SELL (a SELL that read STRONG_BUY would tell a user to buy
what the consensus says to sell).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

QUALITY_SCALE = {"HIGH": 0.75, "MEDIUM": 0.60, "LOW": 0.45}
"""The guide's quality scale (High above 75 %, Medium 60–75 %, Low 45–60 %, filtered out below 45 %):
the tiers of ``ml_probability`` here, and the default tiers of the consensus's composite score
(``core.consensus.ConsensusParams``), which the performance summary's portfolios follow too."""
TIERS = tuple((QUALITY_SCALE[quality], name, quality) for name, quality in (("STRONG_BUY", "HIGH"), ("BUY", "MEDIUM"), ("WEAK_BUY", "LOW")))
THRESHOLDS = tuple(threshold for threshold, _, _ in TIERS)
SKIP, POOR = "SKIP", "POOR"
SELL_NAMES = {"STRONG_BUY": "STRONG_SELL", "BUY": "SELL", "WEAK_BUY": "WEAK_SELL"}
"""A SELL signal's recommendation for each of the guide's BUY names."""


def recommendations(probability, expected_return, consensus_confidence, signal_type="BUY") -> pd.DataFrame:
    """ml_probability, expected_return, ml_recommendation (named for the `signal_type`, BUY or SELL,
    one or per signal), ml_quality_score (the probability's tier) and confidence_adjustment
    (ml_probability - consensus_confidence), one row per signal."""
    p = np.asarray(probability, dtype=float)
    expected = np.asarray(expected_return, dtype=float)
    tiers = [p > threshold for threshold in THRESHOLDS]
    quality = np.select(tiers, [q for _, _, q in TIERS], POOR)
    buy_names = np.select(tiers, [r for _, r, _ in TIERS], SKIP)
    sell_names = np.select(tiers, [SELL_NAMES[r] for _, r, _ in TIERS], SKIP)
    recommendation = np.where(np.asarray(signal_type) == "SELL", sell_names, buy_names)
    recommendation = np.where(expected > 0, recommendation, SKIP)  # NaN is not > 0: unknown never recommends
    return pd.DataFrame({
        "ml_probability": p,
        "expected_return": expected,
        "ml_recommendation": recommendation,
        "ml_quality_score": quality,
        "confidence_adjustment": p - np.asarray(consensus_confidence, dtype=float),
    })


RECOMMENDED_PORTFOLIO = "recommended (not SKIP)"
"""The name of the portfolio of recommended signals in the summary, the API and the command line."""
MODEL_ALONE_PORTFOLIO = "recommended by the model alone"
"""The portfolio of the model's own recommendations, without the earn-its-place rule (``core.earned_place``)."""
NOT_RECOMMENDED = (None, SKIP)
"""What a signal the model does not recommend carries: SKIP, or no score at all."""


def is_recommended(recommendation: pd.Series) -> pd.Series:
    return recommendation.notna() & recommendation.ne(SKIP)
