"""Scoring consensus signals with whatever ``@champion`` points at, and never losing a signal.

Used by the ``ml_enhanced_signals`` asset and the API. If there is no champion, if the model cannot
be loaded or fails, every signal still flows with ``ml_status = 'unscored'`` and the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from emergent_pipeline.core.signal_model import FeatureMismatchError, check_features, recommendations
from emergent_pipeline.model_registry import CHAMPION, ModelStore

ML_COLUMNS = ["ml_probability", "ml_recommendation", "ml_quality_score", "confidence_adjustment", "model_version", "ml_status", "ml_reason"]


@dataclass
class Scoring:
    signals: pd.DataFrame
    model_version: str | None
    status: str
    """'scored' or 'unscored'."""
    reason: str
    error: str | None = None


def unscored(consensus: pd.DataFrame, reason: str) -> pd.DataFrame:
    frame = consensus.copy()
    for column in ["ml_probability", "confidence_adjustment"]:
        frame[column] = np.nan
    frame["ml_recommendation"] = None
    frame["ml_quality_score"] = None
    frame["model_version"] = None
    frame["ml_status"] = "unscored"
    frame["ml_reason"] = reason
    return frame


def score_with_champion(store: ModelStore, consensus: pd.DataFrame, features: pd.DataFrame) -> Scoring:
    """Score every row of ``consensus`` (with its ``features``, same index) in one batch."""
    version = store.version_by_alias(CHAMPION)
    if version is None:
        reason = f"no champion model registered for '{store.model_name}': run the train_signal_model job first"
        return Scoring(unscored(consensus, reason), None, "unscored", reason)
    try:
        model = store.load(version)
        X = check_features(features, store.features_of(version))
        probability = model.predict_proba(X)[:, 1] if len(X) else np.array([])
    except FeatureMismatchError as error:
        reason = f"model version {version.version} not used: {error}"
        return Scoring(unscored(consensus, reason), version.version, "unscored", reason, error=str(error))
    except Exception as error:  # noqa: BLE001 - a broken model must not stop the signals
        reason = f"model version {version.version} could not score: {type(error).__name__}: {error}"
        return Scoring(unscored(consensus, reason[:500]), version.version, "unscored", reason[:500], error=repr(error))
    scored = pd.concat([consensus.reset_index(drop=True), recommendations(probability, consensus["consensus_confidence"].to_numpy())], axis=1)
    scored["model_version"] = str(version.version)
    scored["ml_status"] = "scored"
    scored["ml_reason"] = None
    return Scoring(scored, version.version, "scored", f"scored by {store.model_name} version {version.version} (@{CHAMPION})")
