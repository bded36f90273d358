"""Checks where a user's trust in the scores is at stake: well-formed probabilities, tiers that say
what the probability says, and a calibrated model."""

import dagster as dg
import numpy as np
from dagster_duckdb import DuckDBResource

from emergent_pipeline.core.earned_place import earned_recommendations
from emergent_pipeline.core.recommendations import recommendations
from emergent_pipeline.defs.metadata import table_preview
from emergent_pipeline.defs.ml.assets import ml_enhanced_signals, signal_model

SHOWN_ROWS = 50
MAX_HOLDOUT_ECE = 0.05
"""Largest expected calibration error on a new model's hold-out that passes: the tiers are 15
points of probability apart, so probabilities off by more than 5 points on average would put
signals in the wrong tier often."""


@dg.asset_check(asset=ml_enhanced_signals,
                description="Every scored probability is in [0, 1], its tier is the probability's, and its recommendation is the one the "
                            "probability, the expected return and the components' standing on its issue day give (earn-its-place rule).")
def scores_well_formed(duckdb: DuckDBResource) -> dg.AssetCheckResult:
    with duckdb.get_connection() as conn:
        scored = conn.execute(
            "SELECT symbol, date, signal_type, quality_tier, ml_probability, expected_return, consensus_confidence, ml_recommendation, "
            "ml_quality_score, probability_earned, expected_return_earned FROM ml_enhanced_signals WHERE ml_status = 'scored'").df()
    expected = recommendations(scored["ml_probability"], scored["expected_return"], scored["consensus_confidence"], scored["signal_type"])
    earned = earned_recommendations(scored["ml_probability"], scored["expected_return"], scored["quality_tier"], scored["signal_type"],
                                    scored["probability_earned"], scored["expected_return_earned"])
    outside = ~scored["ml_probability"].between(0.0, 1.0)
    mismatch = (scored["ml_recommendation"].to_numpy() != earned) | (
        scored["ml_quality_score"].to_numpy() != expected["ml_quality_score"].to_numpy())
    bad = scored[outside.to_numpy() | mismatch]
    return dg.AssetCheckResult(
        passed=bad.empty, severity=dg.AssetCheckSeverity.ERROR,
        description=f"{len(bad)} of {len(scored)} scored signals malformed" if len(bad) else f"all {len(scored)} scored signals well formed",
        metadata={"scored": len(scored), "outside_0_1": int(outside.sum()), "tier_mismatches": int(mismatch.sum()),
                  "rows": table_preview(bad, rows=SHOWN_ROWS)},
    )


@dg.asset_check(asset=signal_model, description=f"The new model's expected calibration error on its hold-out is at most {MAX_HOLDOUT_ECE}.")
def holdout_calibration(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    event = context.instance.get_latest_materialization_event(signal_model.key)
    entry = event.asset_materialization.metadata.get("holdout_ece") if event is not None and event.asset_materialization else None
    ece = float(entry.value) if entry is not None and entry.value is not None else np.nan
    if np.isnan(ece):
        return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.WARN,
                                   description="no hold-out ECE recorded for the newest model (too few resolved signals to train?)")
    return dg.AssetCheckResult(
        passed=bool(ece <= MAX_HOLDOUT_ECE), severity=dg.AssetCheckSeverity.WARN,
        description=f"hold-out ECE {ece:.4f} (at most {MAX_HOLDOUT_ECE})",
        metadata={"holdout_ece": round(ece, 4), "max_holdout_ece": MAX_HOLDOUT_ECE},
    )
