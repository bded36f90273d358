"""Training, the MLflow registry and scoring, through real Dagster runs and a real sqlite MLflow store."""

import shutil
from pathlib import Path

import pytest

from emergent_pipeline.defs.prices.resources import PriceSourceResource
from emergent_pipeline.model_registry import CHALLENGER, CHAMPION, MODEL_NAME

from emergent_pipeline_tests.conftest import materialization_metadata, materialize, mlflow_resource, read


@pytest.fixture
def workspace(bundled_db, tmp_path):
    """A private copy of the bundled database and of its MLflow registry (one trained champion).
    The copied experiment still keeps its artifacts in the shared folder: read them, never write."""
    shutil.copy(bundled_db, tmp_path / "emergent.duckdb")
    shutil.copytree(Path(bundled_db).parent / "mlruns", tmp_path / "mlruns")
    return tmp_path / "emergent.duckdb", mlflow_resource(tmp_path / "mlruns").store()


def scored(db):
    return read(db, "SELECT ml_status, model_version, count(*) n, any_value(ml_reason) reason FROM ml_enhanced_signals GROUP BY ALL")


def test_the_first_model_that_beats_the_base_rate_becomes_champion(bundled_run):
    db, result = bundled_run
    metadata = materialization_metadata(result, "signal_scorer")
    store = mlflow_resource(Path(db).parent / "mlruns").store()
    champion, challenger = store.version_by_alias(CHAMPION), store.version_by_alias(CHALLENGER)
    assert str(champion.version) == str(challenger.version) == "1"
    assert metadata["decision"].value == "promoted to champion"
    assert metadata["holdout_brier"].value < metadata["holdout_brier_base_rate"].value
    assert champion.tags["promotion_decision"] == "promoted" and "base-rate predictor" in champion.tags["promotion_reason"]
    assert champion.tags["training_cutoff"] < champion.tags["holdout_start"]
    run = store.client().get_run(champion.run_id)
    assert {"holdout_roc_auc", "holdout_brier", "holdout_ece", "holdout_precision_at_60", "fold_2_roc_auc"} <= set(run.data.metrics)
    artifacts = {a.path for a in store.client().list_artifacts(champion.run_id)}
    assert {"features.json", "plots", "tables"} <= artifacts
    # Every consensus signal is scored by it, with the guide's fields.
    status = scored(db)
    assert status.to_dict("records")[0] | {"reason": None} == {"ml_status": "scored", "model_version": "1", "n": status["n"].sum(), "reason": None}
    signals = read(db, "SELECT * FROM ml_enhanced_signals")
    assert signals["ml_probability"].between(0, 1).all()
    assert set(signals["ml_recommendation"]) <= {"STRONG_BUY", "BUY", "WEAK_BUY", "SKIP"}
    assert (signals["confidence_adjustment"] - (signals["ml_probability"] - signals["consensus_confidence"])).abs().max() < 1e-12


def test_aliases_move_as_specified(definitions, workspace):
    db, store = workspace
    # Same data, same model: not better than the champion, so it stays challenger only.
    result = materialize(definitions, db, PriceSourceResource(), selection=["signal_scorer"])
    assert materialization_metadata(result, "signal_scorer")["decision"].value == "not promoted"
    assert str(store.version_by_alias(CHAMPION).version) == "1"
    assert str(store.version_by_alias(CHALLENGER).version) == "2"
    assert "champion kept" in store.version_by_alias(CHALLENGER).tags["promotion_reason"]
    # A person promotes version 2 in the MLflow UI: scoring follows @champion.
    store.client().set_registered_model_alias(MODEL_NAME, CHAMPION, "2")
    materialize(definitions, db, PriceSourceResource(), selection=["ml_enhanced_signals"])
    assert scored(db)["model_version"].tolist() == ["2"]


def test_with_an_empty_registry_every_signal_flows_unscored(definitions, bundled_db, tmp_path):
    db = tmp_path / "emergent.duckdb"
    shutil.copy(bundled_db, db)
    result = materialize(definitions, db, PriceSourceResource(), selection=["ml_enhanced_signals"], mlflow_dir=tmp_path / "empty")
    assert result.success
    status = scored(db)
    assert status["ml_status"].tolist() == ["unscored"]
    assert status["n"].item() == read(db, "SELECT count(*) n FROM consensus_signals")["n"].item()
    assert "run the train_signal_model job first" in status["reason"].item()
    assert materialization_metadata(result, "ml_enhanced_signals")["ml_status"].value == "unscored"


def test_a_corrupt_model_artifact_falls_back_to_unscored(definitions, bundled_db, tmp_path):
    db = tmp_path / "emergent.duckdb"
    shutil.copy(bundled_db, db)
    materialize(definitions, db, PriceSourceResource(), selection=["signal_scorer"])  # a private store
    store = mlflow_resource(tmp_path / "mlruns").store()
    champion = store.version_by_alias(CHAMPION)
    model_file = Path(store.client().get_model_version_download_uri(MODEL_NAME, champion.version).removeprefix("file://")) / "model.pkl"
    model_file.write_bytes(b"not a pickle")
    result = materialize(definitions, db, PriceSourceResource(), selection=["ml_enhanced_signals"])
    assert result.success
    status = scored(db)
    assert status["ml_status"].tolist() == ["unscored"]
    assert f"model version {champion.version} could not score" in status["reason"].item()


def test_a_feature_mismatch_is_reported_not_scored_as_zero(definitions, workspace):
    db, store = workspace
    store.client().set_model_version_tag(MODEL_NAME, "1", "features", '["consensus_confidence", "a_feature_that_no_longer_exists"]')
    materialize(definitions, db, PriceSourceResource(), selection=["ml_enhanced_signals"])
    reason = scored(db)["reason"].item()
    assert "features differ from the model's training" in reason and "a_feature_that_no_longer_exists" in reason
