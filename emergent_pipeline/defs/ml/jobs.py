"""The training job: features, a new model version (champion if it earns it), then re-scoring."""

import dagster as dg

train_signal_model = dg.define_asset_job(
    "train_signal_model",
    selection=dg.AssetSelection.assets("signal_features", "signal_scorer", "ml_enhanced_signals"),
    description="Train the signal scorer on the real outcomes of past consensus signals, log it to MLflow, "
    "promote it if it beats the champion on the most recent hold-out, and re-score the signals.",
)
