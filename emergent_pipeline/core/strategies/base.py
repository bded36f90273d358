"""What every strategy returns, and the helpers that build it without a loop over rows."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

SIGNAL_COLUMNS = [
    "symbol", "date", "strategy", "signal_type", "confidence", "entry_price", "target_price",
    "stop_loss", "validity_days", "reason", "indicators",
]


def squash(score: pd.Series | np.ndarray, scale: float) -> np.ndarray:
    """Confidence in [0, 1) from a non-negative score: 1 - exp(-score / scale).

    Monotone and never saturated (unlike min(score / k, 1)), so stronger setups keep ranking higher.
    """
    return 1.0 - np.exp(-np.clip(np.asarray(score, dtype="float64"), 0.0, None) / scale)


def log_ratio(value: pd.Series, floor: float) -> pd.Series:
    """log(value / floor): 0 at the threshold, growing slowly beyond it, so one extreme input
    (a 40× volume day) does not decide the confidence alone. Rows below the floor never fire."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(value / floor)


def fires(*conditions: pd.Series) -> pd.Series:
    """All conditions true; a comparison with a missing value is False, so missing never passes."""
    mask = conditions[0].fillna(False).astype(bool)
    for condition in conditions[1:]:
        mask &= condition.fillna(False).astype(bool)
    return mask


def pct(values: pd.Series) -> pd.Series:
    """+8.3% style text, vectorised."""
    sign = pd.Series(np.where(values >= 0, "+", ""), index=values.index)
    return sign + (values * 100).round(1).astype(str) + "%"


def num(values: pd.Series, digits: int = 2) -> pd.Series:
    return values.round(digits).astype(str)


def make_signals(
    panel: pd.DataFrame,
    mask: pd.Series,
    strategy: str,
    signal_type: str | pd.Series,
    confidence: pd.Series | np.ndarray,
    target: pd.Series,
    stop: pd.Series,
    validity_days: int,
    reason: Callable[[pd.DataFrame], pd.Series],
    indicator_columns: list[str],
) -> pd.DataFrame:
    """The signals frame for the rows of ``panel`` where ``mask`` holds.

    Entry is D's close. ``reason`` builds the short text from the firing rows only. ``indicators``
    holds the values the rule used, as one JSON object per row.
    """
    rows = panel.loc[mask]
    confidence = pd.Series(np.asarray(confidence, dtype="float64"), index=panel.index)[mask]
    kind = signal_type[mask] if isinstance(signal_type, pd.Series) else signal_type
    used = rows[indicator_columns].astype("float64").round(6)
    indicators = used.to_json(orient="records", lines=True).splitlines() if len(used) else []
    return pd.DataFrame(
        {
            "symbol": rows["symbol"].astype(str).to_numpy(),
            "date": rows["date"].to_numpy(),
            "strategy": strategy,
            "signal_type": np.asarray(kind) if not isinstance(kind, str) else kind,
            "confidence": confidence.to_numpy(),
            "entry_price": rows["close"].to_numpy(),
            "target_price": target[mask].to_numpy(dtype="float64"),
            "stop_loss": stop[mask].to_numpy(dtype="float64"),
            "validity_days": validity_days,
            "reason": reason(rows).astype(str).to_numpy() if len(rows) else [],
            "indicators": indicators,
        },
        columns=SIGNAL_COLUMNS,
    )
