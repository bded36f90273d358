"""signal_outcomes and performance_summary as stored by the bundled run, and the guard in a real run."""

import shutil
from pathlib import Path

import pandas as pd

from emergent_pipeline.defs.prices.resources import PriceSourceResource

from emergent_pipeline_tests.conftest import failure_message, materialization_metadata, materialize, mlflow_resource, read


def test_every_signal_is_followed(bundled_db):
    outcomes = read(bundled_db, "SELECT * FROM signal_outcomes")
    assert len(outcomes) == read(bundled_db, "SELECT count(*) n FROM consensus_signals")["n"].item()
    assert set(outcomes["outcome"]) == {"target", "stop", "timeout", "open"}
    resolved = outcomes[outcomes["outcome"] != "open"]
    assert resolved[["exit_date", "exit_price", "return_net", "mfe", "mae", "bars_held"]].notna().all().all()
    assert (resolved["exit_date"] > resolved["date"]).all()
    assert (resolved["mfe"] >= resolved["mae"]).all()
    # Open signals are the newest ones: their horizon runs past the last bar.
    assert outcomes.loc[outcomes["outcome"] == "open", "date"].min() > pd.Timestamp("2017-06-01")


def test_the_summary_is_out_of_sample_and_complete(bundled_run):
    db, result = bundled_run
    metadata = materialization_metadata(result, "performance_summary")
    store = mlflow_resource(Path(db).parent / "mlruns").store()
    cutoff = pd.Timestamp(store.client().get_model_version(store.model_name, "1").tags["training_cutoff"])
    summary = read(db, "SELECT * FROM performance_summary")
    assert summary["portfolio"].tolist() == ["consensus (unfiltered)", "ML > 0.45", "ML > 0.60", "ML > 0.75", "benchmark (buy and hold)"]
    assert (summary["training_cutoff"] == cutoff).all()
    assert metadata["out_of_sample_period"].value.startswith(f"{cutoff + pd.offsets.BDay(1):%Y-%m-%d}")
    # Filtering can only keep fewer trades.
    trades = summary.set_index("portfolio")["trades"]
    assert trades["consensus (unfiltered)"] >= trades["ML > 0.45"] >= trades["ML > 0.60"] >= trades["ML > 0.75"]
    traded = summary[summary["trades"] > 0]
    assert (traded["hit_rate_low"] <= traded["hit_rate"]).all() and (traded["hit_rate"] <= traded["hit_rate_high"]).all()
    equity = read(db, "SELECT * FROM performance_equity")
    assert equity["date"].min() > cutoff and set(equity["portfolio"]) == set(summary["portfolio"])
    assert set(read(db, "SELECT DISTINCT dimension FROM performance_breakdown")["dimension"]) == {"strategy", "regime", "quality_tier"}
    assert "Survivorship bias" in metadata["caveat"].value
    assert "benchmark bought and held" in metadata["verdict"].value
    assert {"ml_enhancement_rate", "average_ml_probability", "average_confidence_adjustment"} <= set(metadata["ml_statistics"].value)
    assert metadata["equity_and_drawdown"].value.startswith("![equity curves](data:image/png;base64,")


def test_asking_for_in_sample_rows_is_refused(definitions, bundled_db, tmp_path):
    db = tmp_path / "emergent.duckdb"
    shutil.copy(bundled_db, db)
    shutil.copytree(Path(bundled_db).parent / "mlruns", tmp_path / "mlruns")
    config = {"ops": {"performance_summary": {"config": {"start": "2015-01-02"}}}}
    result = materialize(definitions, db, PriceSourceResource(), selection=["performance_summary"], run_config=config, raise_on_error=False)
    assert not result.success
    assert "refusing to report signals from 2015-01-02 as out-of-sample" in failure_message(result)
