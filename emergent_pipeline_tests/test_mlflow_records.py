"""What a person finds in the MLflow UI and the links to it from Dagster, on a real sqlite MLflow store:
the experiment's kind, descriptions, the logged datasets, the feature list, the promotion log (a move
made by hand included) and the logged tables."""

import io
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import mlflow as mlflow_module
import numpy as np
import pandas as pd
import pytest
from dagster_duckdb import DuckDBResource

from emergent_pipeline.core.features import FEATURES
from emergent_pipeline.defs.automation.sensors import champion_sensor
from emergent_pipeline.model_registry import (
    CHAMPION, CHAMPION_MOVE, EXPERIMENT_KIND_TAG, MODEL_NAME, MODEL_TRAINING, MOVED_OUTSIDE, NOTE_TAG,
    STALE_VERSION_TAGS,
)
from emergent_pipeline.paths import MLFLOW_UI_ENV
from emergent_pipeline.scoring import score_with_champion

from emergent_pipeline_tests.conftest import materialization_metadata, mlflow_resource, private_copy, read


@pytest.fixture
def bundled_store(bundled_db):
    """The bundled run's own MLflow store (one training, version 1 promoted by the pipeline): read only."""
    return mlflow_resource(Path(bundled_db).parent / "mlruns").store()


@pytest.fixture
def workspace(bundled_db, tmp_path):
    """A private copy of the bundled database and MLflow registry, for tests that write to them."""
    return private_copy(bundled_db, tmp_path), mlflow_resource(tmp_path / "mlruns")


def artifact_text(store, run_id: str, path: str) -> str:
    return Path(store.client().download_artifacts(run_id, path)).read_text()


def test_the_experiment_is_a_model_training_one_and_an_old_experiment_is_retagged(bundled_store, tmp_path):
    experiment = bundled_store.client().get_experiment_by_name(bundled_store.experiment_name)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"  # what MLflow 3's UI reads as "Machine learning"
    assert CHAMPION_MOVE in experiment.tags[NOTE_TAG]
    # An experiment made before the tag existed (or whose kind the UI guessed as GenAI) is set right on next use.
    (tmp_path / "old").mkdir()
    store = mlflow_resource(tmp_path / "old").store()
    client = store.client()
    old = client.create_experiment(store.experiment_name, tags={EXPERIMENT_KIND_TAG: "genai_development"})
    store.training.log_run("walk_forward_replay", {}, {}, {}, {}, {})
    assert client.get_experiment(old).tags[EXPERIMENT_KIND_TAG] == MODEL_TRAINING and client.get_experiment(old).tags[NOTE_TAG]


def test_the_training_run_the_model_and_its_version_are_described(bundled_db, bundled_store):
    client, champion = bundled_store.client(), bundled_store.version_by_alias(CHAMPION)
    resolved = read(bundled_db, "SELECT count(*) n, min(date) first, max(date) last, max(exit_date) label_end "
                                "FROM signal_labels WHERE label IS NOT NULL").iloc[0]
    note = client.get_run(champion.run_id).data.tags[NOTE_TAG]
    assert note == champion.description
    assert f"{resolved['n']:,} resolved consensus signals" in note
    assert f"{resolved['first']:%Y-%m-%d} → {resolved['last']:%Y-%m-%d}" in note and f"{resolved['label_end']:%Y-%m-%d}" in note
    auc = client.get_run(champion.run_id).data.metrics["holdout_roc_auc"]
    assert f"ROC AUC {auc:.3f}" in note
    # The evaluation's verdict, with its reason, and where the moves of @champion are (not a status that goes stale).
    assert "**Promotion rule**" in note and "against no champion): promote — " in note and champion.tags["evaluation_reason"] in note
    assert CHAMPION_MOVE in note
    described = client.get_registered_model(MODEL_NAME).description  # the model's page says what the aliases mean
    assert "`@champion`" in described and "`@challenger`" in described and CHAMPION_MOVE in described
    assert not set(STALE_VERSION_TAGS) & set(champion.tags)
    # The tag table stays readable: no tag value is a long list any more.
    assert max(len(v) for v in champion.tags.values()) < 400


def test_the_training_and_holdout_sets_are_logged_as_datasets_with_their_window_and_counts(bundled_db, bundled_store):
    champion = bundled_store.version_by_alias(CHAMPION)
    inputs = {{t.key: t.value for t in i.tags}["mlflow.data.context"]: i for i in bundled_store.client().get_run(champion.run_id).inputs.dataset_inputs}
    assert set(inputs) == {"training", "evaluation"}
    training, holdout = inputs["training"], inputs["evaluation"]
    tags = {t.key: t.value for t in training.tags}
    labels = read(bundled_db, "SELECT count(*) n, sum(label)::INT made_money, min(date) first, max(date) last, max(exit_date) label_end, "
                              "(SELECT count(*) FROM signal_labels WHERE label IS NULL) open FROM signal_labels WHERE label IS NOT NULL").iloc[0]
    assert training.dataset.name == "resolved_consensus_signals" and training.dataset.source_type == "local"
    assert json.loads(training.dataset.source)["uri"] == str(bundled_db)
    assert int(tags["signals"]) == labels["n"] == json.loads(training.dataset.profile)["num_rows"]
    assert int(tags["made_money"]) == labels["made_money"] and int(tags["open_signals_left_out"]) == labels["open"]
    assert (tags["first_signal_date"], tags["last_signal_date"], tags["label_end"]) == (
        f"{labels['first']:%Y-%m-%d}", f"{labels['last']:%Y-%m-%d}", f"{labels['label_end']:%Y-%m-%d}")
    assert {c["name"] for c in json.loads(training.dataset.schema)["mlflow_colspec"]} == set(FEATURES) | {"symbol", "date", "label"}
    evaluation = read(bundled_db, "SELECT holdout_signals, holdout_start FROM model_evaluations WHERE model_version = '1'").iloc[0]
    held = {t.key: t.value for t in holdout.tags}
    assert holdout.dataset.name == "holdout" and int(held["signals"]) == evaluation["holdout_signals"]
    assert held["first_signal_date"] >= f"{evaluation['holdout_start']:%Y-%m-%d}" and held["last_signal_date"] <= tags["last_signal_date"]


def test_the_feature_list_is_an_artifact_and_the_signature_not_a_tag_and_scoring_follows_it(workspace):
    db, mlflow = workspace
    store = mlflow.store()
    champion = store.version_by_alias(CHAMPION)
    assert "features" not in champion.tags
    logged = json.loads(artifact_text(store, champion.run_id, "features.json"))["features"]
    assert logged == FEATURES == store.features_of(champion)
    consensus = read(db, "SELECT c.* FROM consensus_signals c JOIN signal_labels l USING (symbol, date) WHERE l.outcome = 'open' ORDER BY ALL")
    features = consensus[["symbol", "date"]].merge(read(db, "SELECT * FROM signal_features"), on=["symbol", "date"], how="left")
    in_order = score_with_champion(store, consensus, features[FEATURES])
    # Scoring takes the registry's columns in the registry's order: shuffled, with extra columns, the same scores.
    shuffled = features[list(reversed(FEATURES))].assign(not_a_feature=1.0)
    same = score_with_champion(store, consensus, shuffled)
    assert in_order.status == same.status == "scored"
    np.testing.assert_allclose(same.signals["ml_probability"], in_order.signals["ml_probability"])
    # The same rows as SELL signals (features unchanged, so the same probabilities) are named for a sell.
    as_sells = score_with_champion(store, consensus.assign(signal_type="SELL"), features[FEATURES])
    bought = in_order.signals["ml_recommendation"]
    assert as_sells.signals["ml_recommendation"].tolist() == bought.replace(
        {"STRONG_BUY": "STRONG_SELL", "BUY": "SELL", "WEAK_BUY": "WEAK_SELL"}).tolist()
    assert bought.isin(["BUY", "WEAK_BUY"]).any()
    # A column the champion was trained on and that is not offered is named, not scored as missing data.
    missing = score_with_champion(store, consensus, features[FEATURES[1:]])
    assert missing.status == "unscored" and f"missing ['{FEATURES[0]}']" in missing.reason


def test_every_move_of_the_champion_is_an_event_including_one_made_by_hand(workspace):
    db, mlflow = workspace
    store = mlflow.store()
    # The bundled run's pipeline made version 1 champion: one event, by the pipeline.
    first = store.moves.table()
    assert first[["from_version", "to_version"]].values.tolist() == [["none", "1"]]
    assert first["moved_by"].item().startswith("the pipeline (champion_model, Dagster run ") and first["moved_at"].item()
    # A person moves @champion to a new version in the MLflow UI; the sensor notices and logs it.
    client, v1 = store.client(), store.version_by_alias(CHAMPION)
    mlflow_module.set_tracking_uri(store.tracking_uri)  # MLflow finds a `models:/` source's logged model through the process's URI
    v2 = client.create_model_version(MODEL_NAME, v1.source, v1.run_id, tags=v1.tags)
    client.set_registered_model_alias(MODEL_NAME, CHAMPION, v2.version)
    before = datetime.now(timezone.utc).replace(microsecond=0)
    resources = {"mlflow": mlflow, "duckdb": DuckDBResource(database=str(db))}
    result = champion_sensor.evaluate_tick(dg.build_sensor_context(cursor="1", resources=resources))
    assert [r.run_key for r in result.run_requests] == ["champion-2"]
    moves = store.moves.table()
    by_hand = moves.iloc[-1]
    assert (by_hand["from_version"], by_hand["to_version"], by_hand["moved_by"], by_hand["noticed_by"]) == ("1", "2", MOVED_OUTSIDE, "champion_sensor")
    noticed = datetime.fromisoformat(by_hand["noticed_at"].replace("Z", "+00:00"))
    assert before <= noticed <= datetime.now(timezone.utc) + timedelta(seconds=1) and pd.isna(by_hand["moved_at"])
    assert "moved outside the pipeline" in client.get_run(by_hand["run_id"]).data.tags[NOTE_TAG]
    # Noticed once: another tick (a fresh cursor) logs nothing more.
    champion_sensor.evaluate_tick(dg.build_sensor_context(resources=resources))
    assert len(store.moves.table()) == 2
    # Nothing on version 2 says it was "not promoted".
    assert not {"promoted", "promotion_reason"} & set(store.version("2").tags)
    # The pipeline moves it back; a hand move it had not noticed yet is logged first, so the chain has no gap.
    client.set_registered_model_alias(MODEL_NAME, CHAMPION, "1")
    event = store.moves.move(store.version("2"), moved_by="the pipeline (test)", reason="a test promotion")
    chain = store.moves.table()
    assert chain[["from_version", "to_version"]].values.tolist() == [["none", "1"], ["1", "2"], ["2", "1"], ["1", "2"]]
    assert chain["moved_by"].tolist()[2:] == [MOVED_OUTSIDE, "the pipeline (test)"] and chain["run_id"].iloc[-1] == event
    assert str(store.version_by_alias(CHAMPION).version) == "2" and chain["reason"].iloc[-1] == "a test promotion"


def test_logged_tables_have_a_header_for_every_column(bundled_store, tmp_path):
    champion = bundled_store.version_by_alias(CHAMPION)
    folds = pd.read_csv(io.StringIO(artifact_text(bundled_store, champion.run_id, "tables/folds.csv")))
    assert folds.columns[0] == "fold" and folds["fold"].tolist()[:2] == ["fold_1", "fold_2"]
    assert not [c for c in folds.columns if c.startswith("Unnamed")]
    reliability = artifact_text(bundled_store, champion.run_id, "tables/reliability.csv")
    assert reliability.startswith("bin,")
    # A table whose meaningful index has no name still gets a header.
    store = mlflow_resource(tmp_path / "own").store()
    run_id = store.training.log_run("tables", {}, {}, {}, {}, {"by_design.csv": pd.DataFrame({"mean": [0.1, 0.2]}, index=["payoff", "regression"])})
    assert artifact_text(store, run_id, "tables/by_design.csv").splitlines()[0] == "row,mean"


def test_the_dagster_assets_link_to_the_mlflow_run_and_version_and_name_versions_as_text(bundled_run, bundled_store, monkeypatch):
    _, result = bundled_run
    champion = bundled_store.version_by_alias(CHAMPION)
    for asset in ("signal_model", "champion_model", "ml_enhanced_signals"):
        metadata = materialization_metadata(result, asset)
        assert isinstance(metadata["mlflow_version"], dg.UrlMetadataValue)
        assert metadata["mlflow_version"].url == f"http://127.0.0.1:5000/#/models/{MODEL_NAME}/versions/1"
        assert metadata["mlflow_run"].url == f"http://127.0.0.1:5000/#/runs/{champion.run_id}"
        version_key = "model_version" if asset == "signal_model" else "champion_version"
        assert isinstance(metadata[version_key], dg.TextMetadataValue) and metadata[version_key].value == "1"
    move = materialization_metadata(result, "champion_model")["mlflow_move"].url
    assert move.endswith(f"/runs/{bundled_store.moves.table()['run_id'].item()}")
    monkeypatch.setenv(MLFLOW_UI_ENV, "https://mlflow.example.org/")
    assert bundled_store.version_url(champion).startswith("https://mlflow.example.org/#/models/")
