"""Scoring consensus signals with whatever ``@champion`` points at, and never losing a signal.

Used by the ``ml_enhanced_signals`` asset and the API. If there is no champion, if the model cannot
be loaded or fails, every signal still flows with ``ml_status = 'unscored'`` and the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from emergent_pipeline.core.signal_model import FeatureMismatchError, check_features
from emergent_pipeline.model_registry import CHAMPION, ModelStore

ML_COLUMNS = [
    "ml_probability", "expected_return", "ml_recommendation", "ml_quality_score", "confidence_adjustment", "model_version",
    "ml_status", "ml_reason",
]


@dataclass
class Scoring:
    signals: pd.DataFrame
    """The input rows with :data:`ML_COLUMNS` (same order, fresh index)."""
    model_version: str | None
    status: str
    """'scored' or 'unscored'."""
    reason: str
    label_end: pd.Timestamp | None = None
    """The newest label end the scoring model learned from."""


def unscored(consensus: pd.DataFrame, reason: str, version: str | None = None) -> pd.DataFrame:
    frame = consensus.reset_index(drop=True).copy()
    for column in ("ml_probability", "expected_return", "confidence_adjustment"):
        frame[column] = np.nan
    frame["ml_recommendation"] = None
    frame["ml_quality_score"] = None
    frame["model_version"] = version
    frame["ml_status"] = "unscored"
    frame["ml_reason"] = reason
    return frame


def score_with_champion(store: ModelStore, consensus: pd.DataFrame, features: pd.DataFrame) -> Scoring:
    """Score every row of ``consensus`` (with its ``features``, same order) in one batch. The columns
    scored are the ones the registry says the champion was trained on (``ModelStore.features_of``, its
    signature), in that order; other columns of ``features`` are left aside, a missing one is reported."""
    version = store.version_by_alias(CHAMPION)
    if version is None:
        reason = f"no champion model registered for '{store.model_name}': run the train_signal_model job first"
        return Scoring(unscored(consensus, reason), None, "unscored", reason)
    name = str(version.version)
    try:
        model = store.load(version)
        trained = store.features_of(version)
        offered = features.reset_index(drop=True)
        X = check_features(offered[[c for c in offered.columns if c in trained]], trained)
        scores = model.score(X, consensus["consensus_confidence"].to_numpy(), consensus["signal_type"].to_numpy())
    except FeatureMismatchError as error:
        reason = f"model version {name} not used: {error}"
        return Scoring(unscored(consensus, reason, name), name, "unscored", reason)
    except Exception as error:  # noqa: BLE001 - a broken model must not stop the signals
        reason = f"model version {name} could not score: {type(error).__name__}: {error}"[:500]
        return Scoring(unscored(consensus, reason, name), name, "unscored", reason)
    scored = pd.concat([consensus.reset_index(drop=True), scores], axis=1)
    scored["model_version"] = name
    scored["ml_status"] = "scored"
    scored["ml_reason"] = None
    label_end = version.tags.get("label_end")
    return Scoring(scored, name, "scored", f"scored by {store.model_name} version {name} (@{CHAMPION})",
                   pd.Timestamp(label_end) if label_end else None)
