"""A recommendation that earns its place: each ML component is used only while its own record holds.

The recommendation has two ML components: the probability tier (``ml_probability``) and the gate on
a positive expected return (``expected_return``). Each claims to pick the signals that make more
money. Out of time that claim can stop holding (a probability that still ranks success while the
returns of its picks fall, an expected return that ranks nothing), and a user reading "BUY" cannot
see it. So on each day D each component is judged on its own as-issued record known by D's close:

- the resolved signals scored on their own day, exited within the ``window_days`` before D (and on D);
- the rank correlation (Spearman) of the component with the trades' net return;
- its 95 % interval by Fisher's z with the Fieller-Hartley-Pearson variance for Spearman (1.06 / (n - 3)),
  where n counts the distinct entry days, not the trades: trades entering on the same day share the
  market's move and are not independent draws.

A component is used on D only when at least ``min_signals`` resolved signals are in the window and
the whole interval is above zero. Otherwise it is suspended, and the recommendation says which and
why: without the probability the recommendation steps aside to the consensus' own quality tier (the
signal is recommended as the consensus grades it); without the expected return, no signal is
skipped for a non-positive one. The same rule runs in the walk-forward replay on each day with only
what was known then, so the replay measures the rule itself.

Settings by reasoning, not fitted: a year of outcomes spans the seasons and usually more than one
regime, and a component that stops working is suspended within a year; 100 signals is the
project's floor for any claim (``performance.BootstrapParams.min_trades``); an interval above zero
is the summary's own standard of an edge.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm, rankdata

from emergent_pipeline.core.performance import BootstrapParams
from emergent_pipeline.core.recommendations import SELL_NAMES, SKIP, TIERS, recommendations

COMPONENTS = {"probability": "ml_probability", "expected_return": "expected_return"}
"""Each ML component of the recommendation and the score column it reads."""
CONSENSUS_TIER_NAMES = {quality: name for _, name, quality in TIERS}
"""The recommendation a consensus quality tier stands for when the probability steps aside."""


@dataclass(frozen=True)
class EarnParams:
    window_days: int = 365
    """Calendar days of resolved outcomes (by exit date, up to D) a component is judged on."""
    min_signals: int = BootstrapParams.min_trades
    """Fewer resolved signals in the window: too few to judge, and the component is suspended."""
    confidence: float = 0.95


def spearman_interval(x: np.ndarray, y: np.ndarray, independent: int, confidence: float) -> tuple[float, float, float]:
    """Spearman's rho of ``x`` and ``y`` and its interval by Fisher's z, with ``independent``
    observations (Fieller, Hartley and Pearson's variance 1.06 / (n - 3))."""
    if len(x) < 3 or independent < 4:
        return np.nan, np.nan, np.nan
    rx, ry = rankdata(x), rankdata(y)
    if rx.std() == 0 or ry.std() == 0:
        return np.nan, np.nan, np.nan
    rho = float(np.corrcoef(rx, ry)[0, 1])
    half = norm.ppf(0.5 + confidence / 2) * np.sqrt(1.06 / (independent - 3))
    z = np.arctanh(np.clip(rho, -0.999999, 0.999999))
    return rho, float(np.tanh(z - half)), float(np.tanh(z + half))


def component_standing(record: pd.DataFrame, days, params: EarnParams = EarnParams()) -> pd.DataFrame:
    """For each day of ``days`` and each component: whether it is used (``<component>_earned``), why
    (``<component>_standing``, in words) and its figures (``_signals``, ``_rho``, ``_low``, ``_high``), from ``record``: resolved signals scored on their own
    day (``exit_date``, ``entry_date``, ``return_net``, ``ml_probability``, ``expected_return``).
    Only outcomes exited on or before the day count. One row per day, indexed by it."""
    days = pd.DatetimeIndex(pd.to_datetime(pd.Series(days)).drop_duplicates().sort_values())
    resolved = record[record["return_net"].notna()].sort_values("exit_date", kind="mergesort")
    exits = pd.to_datetime(resolved["exit_date"]).to_numpy(dtype="datetime64[ns]")
    ends = np.searchsorted(exits, days.to_numpy(dtype="datetime64[ns]"), side="right")
    starts = np.searchsorted(exits, (days - pd.Timedelta(days=params.window_days)).to_numpy(dtype="datetime64[ns]"), side="right")
    returns = resolved["return_net"].to_numpy(dtype="float64")
    entries = pd.to_datetime(resolved["entry_date"]).to_numpy(dtype="datetime64[ns]")
    scores = {component: resolved[column].to_numpy(dtype="float64") for component, column in COMPONENTS.items()}
    rows = []
    for day, lo, hi in zip(days, starts, ends):  # one judgement per day: a library call on the window
        row = {"day": day}
        for component in COMPONENTS:
            values = scores[component][lo:hi]
            known = ~np.isnan(values)
            n = int(known.sum())
            rho, low, high = spearman_interval(values[known], returns[lo:hi][known], len(np.unique(entries[lo:hi][known])), params.confidence)
            earned = n >= params.min_signals and low > 0
            row |= {f"{component}_earned": bool(earned), f"{component}_standing": standing_sentence(component, n, rho, low, high, day, params),
                    f"{component}_signals": n, f"{component}_rho": rho, f"{component}_low": low, f"{component}_high": high}
        rows.append(row)
    figures = ("earned", "standing", "signals", "rho", "low", "high")
    return pd.DataFrame(rows, columns=["day", *(f"{c}_{k}" for c in COMPONENTS for k in figures)]).set_index("day")


def standing_sentence(component: str, n: int, rho: float, low: float, high: float, day: pd.Timestamp, params: EarnParams) -> str:
    """Why a component is used or suspended on ``day``, in words."""
    window = f"the {n} signals resolved in the {params.window_days} days to {day:%Y-%m-%d}"
    if n < params.min_signals:
        return f"{component} suspended: {window}, fewer than {params.min_signals}, are too few to judge it"
    figures = f"rank correlation with the net return {rho:+.3f} ({low:+.3f} to {high:+.3f}, {params.confidence:.0%})"
    if low > 0:
        return f"{component} used: {figures} over {window}"
    return f"{component} suspended: {figures} over {window}, an interval that does not exclude zero"


def earned_recommendations(probability, expected_return, consensus_tier, signal_type, probability_earned, expected_earned) -> np.ndarray:
    """The recommendation with only the components that have earned their place: the model's own
    (:func:`recommendations.recommendations`) when both have; the probability tier without the
    expected-return gate when only the probability has; the consensus' quality tier (with the gate
    when the expected return has earned it) when the probability has not. A missing standing (a
    score issued before this rule) counts as earned: that is what was served then."""
    p = np.asarray(probability, dtype=float)
    expected = np.asarray(expected_return, dtype=float)
    kind = np.broadcast_to(np.asarray(signal_type), p.shape)
    use_probability = pd.Series(probability_earned, dtype="boolean").fillna(True).to_numpy(dtype=bool)
    use_expected = pd.Series(expected_earned, dtype="boolean").fillna(True).to_numpy(dtype=bool)
    by_probability = recommendations(p, np.where(use_expected, expected, np.inf), 0.0, kind)["ml_recommendation"].to_numpy()
    tier = pd.Series(consensus_tier, dtype=object).map(CONSENSUS_TIER_NAMES).to_numpy()
    tier = np.where(kind == "SELL", pd.Series(tier, dtype=object).map(SELL_NAMES).to_numpy(), tier)
    by_consensus = np.where(~use_expected | (expected > 0), tier, SKIP)
    return np.where(use_probability, by_probability, by_consensus)


EARNED_COLUMNS = ["model_recommendation", "probability_earned", "expected_return_earned", "recommendation_basis"]
"""What the rule adds to an issued score: the model's own recommendation, each component's standing on
the issue day, and the basis in words (``ml_recommendation`` becomes the earned one)."""


def with_earned_place(scored: pd.DataFrame, record: pd.DataFrame, params: EarnParams = EarnParams()) -> pd.DataFrame:
    """``scored`` (``issued_on``, ``signal_type``, ``quality_tier`` of the consensus, ``ml_probability``,
    ``expected_return``, and the model's own ``ml_recommendation``) with the rule applied on each
    row's issue day, judged on ``record`` (resolved signals scored on their own day, see
    :func:`component_standing`): ``ml_recommendation`` as earned, and :data:`EARNED_COLUMNS`."""
    issued_on = pd.to_datetime(scored["issued_on"])
    standing = component_standing(record, issued_on, params).reindex(issued_on)
    probability_earned = standing["probability_earned"].to_numpy(dtype=bool)
    expected_earned = standing["expected_return_earned"].to_numpy(dtype=bool)
    earned = earned_recommendations(scored["ml_probability"], scored["expected_return"], scored["quality_tier"], scored["signal_type"],
                                    probability_earned, expected_earned)
    basis = (standing["probability_standing"] + "; " + standing["expected_return_standing"]).to_numpy()
    return scored.assign(model_recommendation=scored["ml_recommendation"].to_numpy(), ml_recommendation=earned,
                         probability_earned=probability_earned, expected_return_earned=expected_earned, recommendation_basis=basis)
