"""The jobs a user runs or schedules. Training is its own job (``train_signal_model``, in ml/jobs.py)."""

import dagster as dg

TRAINING = dg.AssetSelection.assets("signal_scorer")

daily_refresh = dg.define_asset_job(
    "daily_refresh",
    selection=dg.AssetSelection.all() - TRAINING,
    description="New prices → signals → market context → scoring by @champion → outcomes → summary. "
    "Does not retrain: the retraining sensor or a person starts train_signal_model.",
)

full_backfill = dg.define_asset_job(
    "full_backfill",
    selection=dg.AssetSelection.all(),
    description="Everything from scratch, training included (what `make run` does).",
)

rescore_signals = dg.define_asset_job(
    "rescore_signals",
    selection=dg.AssetSelection.assets("ml_enhanced_signals").downstream(),
    description="Re-score the consensus signals with the current @champion and refresh what depends on them.",
)
