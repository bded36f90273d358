"""The as-issued record: every score ever issued for a signal, kept, never rewritten.

A row is (symbol, date) of the signal, the day the score was issued (``issued_on``: the signal's own
close for a score issued with it, the newest price day for a later one), the model that issued it
and the newest label end that model learned from, the score itself, when it was computed, and where
it came from (``live``: the pipeline's daily scoring, never touched again; ``replay``: the
walk-forward replay's reconstruction of history, rebuilt by each replay for the signals no live score
covers). What a user saw on a day D is the newest score issued on or before D.
"""

from __future__ import annotations

import pandas as pd

from emergent_pipeline.core.earned_place import EARNED_COLUMNS

MONITORING_COLUMNS = ["feature_distance", "out_of_distribution"]
"""What the scoring model says of a signal's features (``signal_model.FeatureProfile``): how far from
the rows it learned from, and whether beyond 99 % of them."""

KEY = ["symbol", "date"]
SCORE_COLUMNS = [
    "symbol", "date", "issued_on", "origin", "model_version", "model_label_end", "scored_at", "ml_probability",
    "expected_return", "ml_recommendation", "ml_quality_score", "confidence_adjustment", "ml_status", "ml_reason",
    *EARNED_COLUMNS, *MONITORING_COLUMNS,
]


def empty_scores() -> pd.DataFrame:
    """The record with no row yet, typed."""
    dates = {"date", "issued_on", "model_label_end", "scored_at"}
    numbers = {"ml_probability", "expected_return", "confidence_adjustment", "feature_distance"}
    flags = {"probability_earned", "expected_return_earned", "out_of_distribution"}
    kind = lambda c: "datetime64[ns]" if c in dates else "float64" if c in numbers else "boolean" if c in flags else object  # noqa: E731
    return pd.DataFrame({c: pd.Series(dtype=kind(c)) for c in SCORE_COLUMNS})


def score_rows(scored: pd.DataFrame, origin: str, issued_on, model_version, label_end) -> pd.DataFrame:
    """Rows of the record from scored signals (``KEY`` and the score columns)."""
    rows = scored[KEY + ["ml_probability", "expected_return", "ml_recommendation", "ml_quality_score", "confidence_adjustment", *EARNED_COLUMNS]].copy()
    for column in MONITORING_COLUMNS:  # a model registered before the feature profile has none
        rows[column] = scored[column] if column in scored else None
    rows["issued_on"] = issued_on
    rows["origin"] = origin
    rows["model_version"] = pd.Series(model_version, index=rows.index).astype(str) if len(rows) else pd.Series(dtype=str)
    rows["model_label_end"] = pd.to_datetime(pd.Series(label_end, index=rows.index)) if len(rows) else pd.Series(dtype="datetime64[ns]")
    rows["scored_at"] = pd.Timestamp.now(tz="UTC").tz_localize(None)
    rows["ml_status"] = "scored"
    rows["ml_reason"] = None
    rows["issued_on"] = pd.to_datetime(rows["issued_on"])
    rows = rows.astype({"probability_earned": "boolean", "expected_return_earned": "boolean", "out_of_distribution": "boolean",
                        "feature_distance": "float64"})
    return rows[SCORE_COLUMNS]


def newest_scores(scores: pd.DataFrame, as_of: pd.Timestamp | None = None) -> pd.DataFrame:
    """Per signal, the newest score issued on or before ``as_of`` (all of them by default)."""
    chosen = scores if as_of is None else scores[pd.to_datetime(scores["issued_on"]) <= pd.Timestamp(as_of)]
    ordered = chosen.sort_values(["issued_on", "scored_at"], kind="mergesort")
    return ordered.drop_duplicates(KEY, keep="last").reset_index(drop=True)


def issued_with_signal(scores: pd.DataFrame) -> pd.DataFrame:
    """Per signal, the score issued on its own day: the forecast a user had when the signal came.
    A signal scored only later has none (it is not a forecast of its outcome)."""
    own_day = scores[pd.to_datetime(scores["issued_on"]) == pd.to_datetime(scores["date"])]
    return newest_scores(own_day)
