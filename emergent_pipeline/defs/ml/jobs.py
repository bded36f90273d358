"""The training job: train → evaluate → promote, then the scores and everything downstream of them."""

import dagster as dg

TRAINING_ASSETS = ("signal_model", "signal_model_evaluation", "champion_model")
"""Train → evaluate → promote: the one definition of what training is (jobs, the store's refusal)."""
TRAINED = dg.AssetSelection.assets(*TRAINING_ASSETS)

train_signal_model = dg.define_asset_job(
    "train_signal_model",
    selection=dg.AssetSelection.assets("signal_features", "signal_labels") | TRAINED
    | dg.AssetSelection.assets("ml_enhanced_signals").downstream(),
    description="Train a new model version on the real outcomes of past consensus signals (MLflow, @challenger), "
    "evaluate it against the champion on its hold-out, promote it if it earns it, then issue scores and refresh the summary.",
)
