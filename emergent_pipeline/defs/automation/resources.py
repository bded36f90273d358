"""When the pipeline should retrain on its own."""

import dagster as dg
from pydantic import Field


class RetrainingPolicy(dg.ConfigurableResource):
    """When to retrain the signal model: read by `retraining_sensor` (which requests
    `train_signal_model`) and by the walk-forward replay (`signal_replay`), so that the replayed
    history follows the policy the live pipeline follows. A resource, not op config, because a
    sensor and an asset share it; the launchpad shows it under `resources: retraining`."""

    min_new_outcomes: int = Field(
        default=200, description="Retrain once this many signal outcomes resolved after the newest model's learned label end."
    )
    max_champion_age_days: int = Field(default=30, description="Retrain when the @champion model version is older than this (days).")
