"""How good, and how honest, a signal probability is, on held-out signals.

Discrimination (ROC AUC), accuracy of the probabilities (Brier score, log loss), calibration (the
reliability table and the expected calibration error: users read 0.7 as "7 in 10 work"), and what
a user filtering at 0.45 / 0.60 / 0.75 would get (precision, count, lift over the base rate).
Metrics come from scikit-learn where it has them; ECE and the table are short enough to write.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

from emergent_pipeline.core.recommendations import THRESHOLDS


def reliability_table(y: np.ndarray, p: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Per probability bin of equal width (non-empty bins): count, mean predicted, observed rate.
    The rates are scikit-learn's ``calibration_curve``; the counts are the same bins'."""
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    observed, predicted = calibration_curve(y, p, n_bins=bins, strategy="uniform")
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.searchsorted(edges[1:-1], p)  # the binning calibration_curve uses
    counts = np.bincount(which, minlength=bins)
    occupied = np.flatnonzero(counts)
    return pd.DataFrame(
        {"count": counts[occupied], "predicted": predicted, "observed": observed},
        index=[f"{edges[b]:.1f}-{edges[b + 1]:.1f}" for b in occupied],
    )


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Mean |observed - predicted| over the bins, weighted by their counts."""
    table = reliability_table(y, p, bins)
    return float((table["count"] * (table["observed"] - table["predicted"]).abs()).sum() / table["count"].sum())


def classification_metrics(y: np.ndarray, p: np.ndarray, base_rate: float | None = None) -> dict[str, float]:
    """The metric set logged for every fold and the hold-out. ``base_rate`` is the training base
    rate, for the Brier score of the constant predictor (the bar a model must clear)."""
    y, p = np.asarray(y, dtype=float), np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    observed_rate = float(y.mean()) if len(y) else float("nan")
    reference = observed_rate if base_rate is None else base_rate
    both_classes = len(np.unique(y)) == 2
    metrics = {
        "count": float(len(y)),
        "base_rate": observed_rate,
        "roc_auc": float(roc_auc_score(y, p)) if both_classes else float("nan"),
        "brier": float(brier_score_loss(y, p)) if len(y) else float("nan"),
        "brier_base_rate": float(brier_score_loss(y, np.full(len(y), reference))) if len(y) else float("nan"),
        "log_loss": float(log_loss(y, p, labels=[0, 1])) if len(y) else float("nan"),
        "ece": expected_calibration_error(y, p) if len(y) else float("nan"),
        "mean_probability": float(p.mean()) if len(y) else float("nan"),
    }
    for threshold in sorted(THRESHOLDS):
        chosen = p > threshold
        key = f"{threshold:.2f}".replace("0.", "")
        precision = float(y[chosen].mean()) if chosen.any() else float("nan")
        metrics[f"count_at_{key}"] = float(chosen.sum())
        metrics[f"precision_at_{key}"] = precision
        metrics[f"lift_at_{key}"] = precision / observed_rate if chosen.any() and observed_rate > 0 else float("nan")
    return metrics
