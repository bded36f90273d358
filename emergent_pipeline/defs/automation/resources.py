"""When the pipeline should retrain on its own."""

import dagster as dg
from pydantic import Field


class RetrainingPolicy(dg.ConfigurableResource):
    min_new_outcomes: int = Field(default=200, description="Resolved outcomes since the newest model's data that call for a retraining.")
    max_champion_age_days: int = Field(default=30, description="Retrain when the champion is older than this.")
