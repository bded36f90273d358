"""The jobs a user runs or schedules. Training is its own job (`train_signal_model`, in ml/jobs.py)."""

import dagster as dg

from emergent_pipeline.defs.ml.jobs import TRAINED

REPLAY = dg.AssetSelection.assets("signal_replay")

daily_refresh = dg.define_asset_job(
    "daily_refresh",
    selection=dg.AssetSelection.all() - TRAINED - REPLAY,
    description="New prices → signals → market context → labels → scores issued by @champion for new signals → outcomes → "
    "summary. Does not retrain: the retraining sensor or a person starts train_signal_model.",
)

full_backfill = dg.define_asset_job(
    "full_backfill",
    selection=dg.AssetSelection.all(),
    description="Everything from scratch: training, the walk-forward replay of history, scoring (what `make run` does).",
)

replay_history = dg.define_asset_job(
    "replay_history",
    selection=REPLAY | REPLAY.downstream(),
    description="The walk-forward replay of the ML lifecycle over history (the as-issued record of the past), then "
    "the outcomes and the summary that read it.",
)

rescore_signals = dg.define_asset_job(
    "rescore_signals",
    selection=dg.AssetSelection.assets("ml_enhanced_signals").downstream(),
    description="Issue @champion's scores for the open signals another model scored (and any signal not yet scored), "
    "and refresh what depends on them. Scores issued before are kept.",
)
