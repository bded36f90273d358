"""Train → evaluate → promote, the MLflow registry and the as-issued scores, through real Dagster runs
and a real sqlite MLflow store."""

import shutil
from pathlib import Path

import pandas as pd
import pytest

from emergent_pipeline.defs.prices.resources import PriceSourceResource
from emergent_pipeline.model_registry import CHALLENGER, CHAMPION, MODEL_NAME

from emergent_pipeline_tests.conftest import materialization_metadata, materialize, mlflow_resource, private_copy, read

LIFECYCLE = ["signal_model", "signal_model_evaluation", "champion_model"]


@pytest.fixture
def workspace(bundled_db, tmp_path):
    """A private copy of the bundled database and of its MLflow registry (one trained champion).
    The copied experiment still keeps its artifacts in the shared folder: read them, never write."""
    return private_copy(bundled_db, tmp_path), mlflow_resource(tmp_path / "mlruns").store()


def scores(db) -> pd.DataFrame:
    return read(db, "SELECT * FROM signal_scores ORDER BY ALL")


def test_the_first_model_that_beats_the_base_rate_becomes_champion(bundled_run):
    db, result = bundled_run
    trained = materialization_metadata(result, "signal_model")
    store = mlflow_resource(Path(db).parent / "mlruns").store()
    champion, challenger = store.version_by_alias(CHAMPION), store.version_by_alias(CHALLENGER)
    assert str(champion.version) == str(challenger.version) == "1"
    assert materialization_metadata(result, "signal_model_evaluation")["decision"].value == "promote"
    assert materialization_metadata(result, "champion_model")["champion_version"].value == "1"
    assert trained["holdout_brier"].value < trained["base_rate_brier"].value
    assert champion.tags["evaluation"] == "promote" and "base-rate predictor" in champion.tags["evaluation_reason"]
    # The served model learned every resolved label: its learned window ends at the newest exit.
    newest_exit = read(db, "SELECT max(exit_date) d FROM signal_labels WHERE label IS NOT NULL")["d"].item()
    assert pd.Timestamp(champion.tags["label_end"]) == newest_exit
    assert champion.tags["holdout_start"] < champion.tags["label_end"] <= champion.tags["data_end"]
    run = store.client().get_run(champion.run_id)
    assert {"holdout_roc_auc", "holdout_brier", "holdout_ece", "holdout_precision_at_60", "fold_2_roc_auc"} <= set(run.data.metrics)
    assert {a.path for a in store.client().list_artifacts(champion.run_id)} >= {"features.json", "plots", "tables"}
    # The open signals were issued its scores, with the guide's fields and an expected return.
    signals = read(db, "SELECT * FROM ml_enhanced_signals e JOIN signal_labels l USING (symbol, date) WHERE l.outcome = 'open'")
    assert (signals["ml_status"] == "scored").all() and set(signals["model_version"]) == {"1"}
    assert signals["ml_probability"].between(0, 1).all() and signals["expected_return"].notna().all()
    assert set(signals["ml_recommendation"]) <= {"STRONG_BUY", "BUY", "WEAK_BUY", "SKIP"}
    assert (signals.loc[signals["expected_return"] <= 0, "model_recommendation"] == "SKIP").all()
    # Served: the model's own where both components have earned their place, else what the rule leaves (basis in words).
    gated = signals["expected_return_earned"].astype(bool) & (signals["expected_return"] <= 0)
    assert (signals.loc[gated, "ml_recommendation"] == "SKIP").all()
    assert signals["recommendation_basis"].str.match(r"probability (used|suspended): .*; expected_return (used|suspended): ").all()


def test_a_fresher_fit_of_the_same_method_is_promoted_and_a_worse_method_is_not(definitions, workspace):
    db, store = workspace
    result = materialize(definitions, db, PriceSourceResource(), selection=LIFECYCLE)
    assert materialization_metadata(result, "signal_model_evaluation")["decision"].value == "promote"
    assert str(store.version_by_alias(CHAMPION).version) == "2"
    crippled = {"ops": {"signal_model": {"config": {"learning_rate": 0.001, "max_iter": 4}}}}
    result = materialize(definitions, db, PriceSourceResource(), selection=LIFECYCLE, run_config=crippled)
    assert materialization_metadata(result, "signal_model_evaluation")["decision"].value == "keep champion"
    assert str(store.version_by_alias(CHAMPION).version) == "2" and str(store.version_by_alias(CHALLENGER).version) == "3"
    evaluations = read(db, "SELECT * FROM model_evaluations ORDER BY evaluated_at")
    assert evaluations["decision"].tolist() == ["promote", "promote", "keep champion"]
    last = evaluations.iloc[-1]
    assert last["champion_version"] == "2" and (last["challenger_brier"] > last["champion_brier"] or last["challenger_roc_auc"] < last["champion_roc_auc"])


def test_a_new_champion_adds_scores_and_never_rewrites_what_was_issued(definitions, workspace):
    """A person promotes another version in the MLflow UI: the open signals get its scores, issued on
    the newest day; every score issued before stays exactly as it was."""
    db, store = workspace
    materialize(definitions, db, PriceSourceResource(), selection=["signal_model"])  # version 2, challenger only
    before = scores(db)
    store.client().set_registered_model_alias(MODEL_NAME, CHAMPION, "2")
    materialize(definitions, db, PriceSourceResource(), selection=["ml_enhanced_signals"])
    after = scores(db)
    kept = after.merge(before, how="inner")
    assert len(kept) == len(before)  # nothing issued before changed or went
    added = after[after["model_version"] == "2"]
    open_signals = read(db, "SELECT count(*) n FROM signal_labels WHERE outcome = 'open'")["n"].item()
    assert len(added) == len(after) - len(before) == open_signals
    assert (added["issued_on"] == read(db, "SELECT max(date) d FROM price_history")["d"].item()).all()
    current = read(db, "SELECT e.model_version FROM ml_enhanced_signals e JOIN signal_labels l USING (symbol, date) WHERE l.outcome = 'open'")
    assert set(current["model_version"]) == {"2"}


def test_after_a_new_champion_the_rows_rewritten_equal_a_whole_recomputation(definitions, workspace, tmp_path):
    """The new champion's scores reach only the open signals' rows of `ml_enhanced_signals` and
    `signal_outcomes` (rewritten from the oldest scored now); both tables then equal what a whole
    recomputation from the same scores gives."""
    db, store = workspace
    materialize(definitions, db, PriceSourceResource(), selection=["signal_model"])
    store.client().set_registered_model_alias(MODEL_NAME, CHAMPION, "2")
    result = materialize(definitions, db, PriceSourceResource(), selection=["ml_enhanced_signals", "signal_outcomes"])
    first_open = pd.Timestamp(read(db, "SELECT min(date) d FROM signal_labels WHERE outcome = 'open'")["d"].item())
    total = read(db, "SELECT count(*) n FROM ml_enhanced_signals")["n"].item()
    rewritten = materialization_metadata(result, "ml_enhanced_signals")["rows_recomputed"].value
    assert rewritten == read(db, f"SELECT count(*) n FROM consensus_signals WHERE date >= DATE '{first_open:%Y-%m-%d}'")["n"].item() < total / 10
    whole = tmp_path / "whole" / "emergent.duckdb"
    whole.parent.mkdir()
    shutil.copy(db, whole)
    import duckdb

    with duckdb.connect(str(whole)) as conn:  # no record of their inputs: the next run recomputes them whole
        conn.execute("DELETE FROM asset_inputs WHERE asset IN ('ml_enhanced_signals', 'signal_outcomes')")
    again = materialize(definitions, whole, PriceSourceResource(), selection=["ml_enhanced_signals", "signal_outcomes"],
                        mlflow_dir=tmp_path / "mlruns")
    assert materialization_metadata(again, "signal_outcomes")["recomputed"].value.startswith("the whole history")
    for table in ("ml_enhanced_signals", "signal_outcomes"):
        query = f"SELECT * FROM {table} ORDER BY symbol, date"
        pd.testing.assert_frame_equal(read(db, query), read(whole, query), check_exact=True)


def without_scores(bundled_db, tmp_path):
    db = tmp_path / "emergent.duckdb"
    shutil.copy(bundled_db, db)
    import duckdb

    with duckdb.connect(str(db)) as conn:
        conn.execute("DROP TABLE signal_scores")
    return db


def test_with_an_empty_registry_every_signal_flows_unscored(definitions, bundled_db, tmp_path):
    db = without_scores(bundled_db, tmp_path)
    result = materialize(definitions, db, PriceSourceResource(), selection=["ml_enhanced_signals"], mlflow_dir=tmp_path / "empty")
    assert result.success
    status = read(db, "SELECT ml_status, count(*) n, any_value(ml_reason) reason FROM ml_enhanced_signals GROUP BY ALL")
    assert status["ml_status"].tolist() == ["unscored"]
    assert status["n"].item() == read(db, "SELECT count(*) n FROM consensus_signals")["n"].item()
    assert "run the train_signal_model job first" in status["reason"].item()
    assert "no champion model registered" in materialization_metadata(result, "ml_enhanced_signals")["scoring"].value


def test_a_corrupt_model_artifact_falls_back_to_unscored(definitions, bundled_db, tmp_path):
    db = without_scores(bundled_db, tmp_path)
    materialize(definitions, db, PriceSourceResource(), selection=LIFECYCLE)  # a private store with a champion
    store = mlflow_resource(tmp_path / "mlruns").store()
    champion = store.version_by_alias(CHAMPION)
    model_file = Path(store.client().get_model_version_download_uri(MODEL_NAME, champion.version).removeprefix("file://")) / "model.pkl"
    model_file.write_bytes(b"not a pickle")
    result = materialize(definitions, db, PriceSourceResource(), selection=["ml_enhanced_signals"])
    assert result.success
    reasons = read(db, "SELECT DISTINCT ml_reason FROM ml_enhanced_signals")["ml_reason"].tolist()
    assert reasons == [f"model version {champion.version} could not score: " + reasons[0].split(": ", 1)[1]]


def test_a_feature_mismatch_is_reported_not_scored_as_zero(definitions, bundled_db, tmp_path):
    db = without_scores(bundled_db, tmp_path)
    shutil.copytree(Path(bundled_db).parent / "mlruns", tmp_path / "mlruns")
    store = mlflow_resource(tmp_path / "mlruns").store()
    model_dir = Path(store.client().get_model_version_download_uri(MODEL_NAME, "1").removeprefix("file://"))
    import cloudpickle

    scorer = cloudpickle.loads((model_dir / "model.pkl").read_bytes())
    scorer.features = ["consensus_confidence", "a_feature_that_no_longer_exists"]
    private = tmp_path / "model"
    shutil.copytree(model_dir, private)
    (private / "model.pkl").write_bytes(cloudpickle.dumps(scorer))
    version = store.client().create_model_version(MODEL_NAME, private.as_uri(), run_id=None)
    store.client().set_registered_model_alias(MODEL_NAME, CHAMPION, version.version)
    materialize(definitions, db, PriceSourceResource(), selection=["ml_enhanced_signals"])
    reason = read(db, "SELECT DISTINCT ml_reason FROM ml_enhanced_signals")["ml_reason"].item()
    assert "features differ from the model's training" in reason and "a_feature_that_no_longer_exists" in reason


def test_after_the_training_job_every_table_and_the_snapshot_agree_on_one_model_and_one_day(definitions, workspace):
    """No daemon, no sensor: the training job itself brings the scores, outcomes, summary and the
    serving snapshot in step with the model it promoted."""
    from emergent_pipeline.defs.ml.jobs import train_signal_model

    db, store = workspace
    assert materialize(definitions, db, PriceSourceResource(), selection=train_signal_model.selection).success
    champion = str(store.version_by_alias(CHAMPION).version)
    assert champion == "2"
    open_scores = read(db, "SELECT DISTINCT e.model_version FROM ml_enhanced_signals e JOIN signal_labels l USING (symbol, date) "
                           "WHERE l.outcome = 'open'")["model_version"].tolist()
    # The as-issued record keeps the version that issued each past signal; the newest day is issued by the champion.
    issued_today = read(db, "SELECT DISTINCT model_version FROM signal_outcomes "
                            "WHERE date = (SELECT max(date) FROM signal_outcomes)")["model_version"].tolist()
    holdout = read(db, "SELECT model_version FROM performance_holdout")["model_version"].tolist()
    assert open_scores == issued_today == holdout == [champion]
    snapshot = Path(db).with_name("serving.duckdb")
    manifest = read(snapshot, "SELECT * FROM snapshot_manifest").iloc[0]
    newest = {table: read(db, f"SELECT max(date) d FROM {table}")["d"].item() for table in ("price_history", "market_context")}
    assert manifest["model_version"] == champion and manifest["price_date"] == newest["price_history"] == newest["market_context"]
    assert read(snapshot, "SELECT count(*) n FROM signal_outcomes")["n"].item() == read(db, "SELECT count(*) n FROM signal_outcomes")["n"].item()
