"""signal_outcomes, the replay's as-issued record and performance_summary as stored by the bundled run;
the forward-window guard in a real run."""

from pathlib import Path

import dagster as dg

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from emergent_pipeline.defs.prices.resources import PriceSourceResource
from emergent_pipeline.model_registry import CHAMPION

from emergent_pipeline_tests.conftest import (
    assert_tables_unchanged, failure_message, materialization_metadata, materialize, mlflow_resource, private_copy, read, stored_tables,
)


def test_every_signal_is_followed(bundled_db):
    outcomes = read(bundled_db, "SELECT * FROM signal_outcomes")
    assert len(outcomes) == read(bundled_db, "SELECT count(*) n FROM consensus_signals")["n"].item()
    assert set(outcomes["outcome"]) == {"target", "stop", "timeout", "open", "suspect"}
    # A suspect signal's path crosses a one-day move beyond 40 % (recomputed from the stored prices); it has no label.
    moves = read(bundled_db, "SELECT symbol, date, abs(close / lag(close) OVER (PARTITION BY symbol ORDER BY date) - 1) AS move FROM price_history")
    jumps = moves[moves["move"] > 0.40]
    suspect = outcomes[outcomes["outcome"] == "suspect"].merge(jumps, on="symbol", suffixes=("", "_jump"))
    crossing = suspect[(suspect["date_jump"] >= suspect["entry_date"]) & (suspect["date_jump"] <= suspect["exit_date"])]
    assert set(crossing["date"]) == set(outcomes.loc[outcomes["outcome"] == "suspect", "date"])
    assert outcomes.loc[outcomes["outcome"] == "suspect", ["label", "return_net"]].isna().all().all()
    resolved = outcomes[~outcomes["outcome"].isin(["open", "suspect"])]
    assert resolved[["exit_date", "exit_price", "return_net", "mfe", "mae", "bars_held"]].notna().all().all()
    assert (resolved["exit_date"] > resolved["date"]).all() and (resolved["mfe"] >= resolved["mae"]).all()
    assert (resolved["label"] == (resolved["return_net"] > 0)).all()  # one meaning of success
    assert outcomes.loc[outcomes["outcome"] == "open", "date"].min() > pd.Timestamp("2017-06-01")
    # The ML figures are those issued on each signal's own day.
    scored = outcomes[outcomes["ml_probability"].notna()]
    assert (scored["issued_on"] == scored["date"]).all()


def test_the_replay_never_scores_with_a_model_that_saw_the_outcome(bundled_db):
    replay = read(bundled_db, "SELECT * FROM signal_scores WHERE origin = 'replay'")
    assert len(replay) > 3_000
    assert (replay["model_label_end"] < replay["date"]).all()
    assert (replay["issued_on"] == replay["date"]).all()
    retrains = read(bundled_db, "SELECT * FROM replay_retrains")
    assert len(retrains) >= 30 and (retrains["decision"] == "promoted").sum() >= 5
    points = pd.to_datetime(retrains["point"])
    assert ((points.diff().dt.days.dropna()) <= 33).all()  # the policy's 30-day cadence (to the next trading day)


REPLAY_RECORD_KNOWN_ON = """
WITH resolved AS (
    SELECT l.exit_date FROM signal_scores s JOIN signal_labels l USING (symbol, date)
    WHERE s.origin = 'replay' AND s.issued_on = s.date AND l.label IS NOT NULL
), days AS (SELECT DISTINCT issued_on AS day FROM signal_scores WHERE origin = 'replay')
SELECT day, count(r.exit_date) AS known FROM days LEFT JOIN resolved r ON r.exit_date > day - INTERVAL 365 DAY AND r.exit_date <= day
GROUP BY day
"""


def test_the_replay_judges_each_component_only_on_outcomes_known_that_day(bundled_db):
    scores = read(bundled_db, "SELECT s.*, c.quality_tier FROM signal_scores s JOIN consensus_signals c USING (symbol, date) WHERE origin = 'replay'")
    known = read(bundled_db, REPLAY_RECORD_KNOWN_ON).set_index("day")["known"]
    # Every row's basis names how many signals it was judged on: exactly those resolved (exited) by its
    # issue day within the year before, counted here from the stored scores and labels.
    judged_on = scores["recommendation_basis"].str.extract(r"^probability \w+: .*?the (\d+) signals resolved")[0].astype(int)
    assert (judged_on.to_numpy() == known.reindex(scores["issued_on"]).to_numpy()).all()
    assert (scores["probability_earned"] == scores["recommendation_basis"].str.startswith("probability used")).all()
    # A suspended probability steps aside to the consensus' tier (the SKIP of a still-earned expected return aside).
    aside = scores[~scores["probability_earned"] & ~scores["expected_return_earned"]]
    assert len(aside) and (aside["ml_recommendation"] == aside["quality_tier"].map({"HIGH": "STRONG_BUY", "MEDIUM": "BUY", "LOW": "WEAK_BUY"})).all()
    both = scores[scores["probability_earned"] & scores["expected_return_earned"]]
    assert (both["ml_recommendation"] == both["model_recommendation"]).all()


def test_the_summary_reads_as_issued_scores_in_honest_windows(bundled_run):
    db, result = bundled_run
    metadata = materialization_metadata(result, "performance_summary")
    champion = mlflow_resource(Path(db).parent / "mlruns").store().version_by_alias(CHAMPION)
    label_end = pd.Timestamp(champion.tags["label_end"])
    # The forward record starts after the serving model's learned window.
    assert pd.Timestamp(metadata["forward_record_from"].value) > label_end
    summary = read(db, "SELECT * FROM performance_summary")
    replay = summary[summary["record"] == "replay"]
    first_issued = read(db, "SELECT min(date) d FROM signal_scores WHERE origin = 'replay'")["d"].item()
    assert metadata["windows"].value["replay"].startswith(f"{first_issued:%Y-%m-%d}")
    overall = replay[replay["year"] == "all"].set_index("portfolio")
    trades = overall["trades"]
    assert trades["consensus (unfiltered)"] >= trades["ML > 0.45"] >= trades["ML > 0.60"] >= trades["ML > 0.75"]
    assert trades["consensus (unfiltered)"] >= trades["recommended (not SKIP)"]
    recommended = overall.loc["recommended (not SKIP)"]
    assert recommended["mean_return_low"] <= recommended["mean_return"] <= recommended["mean_return_high"]
    assert recommended["verdict"].split(":")[0] in {"edge", "no proven edge", "worse"}
    small = summary[summary["trades"] < 100]
    assert small["verdict"].str.startswith("too few trades").all()
    assert set(replay["year"]) >= {"all", "2015", "2016", "2017"}
    calibration = read(db, "SELECT * FROM performance_calibration WHERE record = 'replay'").set_index("year")
    assert 0 < calibration.loc["all", "ece"] < 0.2
    assert read(db, "SELECT count(*) n FROM performance_holdout")["n"].item() == 1
    assert "Survivorship bias" in metadata["caveat"].value
    assert metadata["replay_equity"].value.startswith("![equity replay](data:image/png;base64,")


def test_the_tearsheet_agrees_with_the_summary_and_is_logged_to_mlflow(bundled_run):
    db, result = bundled_run
    sheet = read(db, "SELECT * FROM performance_tearsheet WHERE record = 'replay'").set_index("portfolio")
    overall = read(db, "SELECT * FROM performance_summary WHERE record = 'replay' AND year = 'all'").set_index("portfolio")
    equity = read(db, "SELECT portfolio, min(drawdown) AS worst FROM performance_equity WHERE record = 'replay' GROUP BY 1").set_index("portfolio")
    for portfolio in ("consensus (unfiltered)", "recommended (not SKIP)", "recommended by the model alone"):
        # quantstats' Sharpe and drawdown against the summary's own (two implementations, one set of returns)
        assert sheet.loc[portfolio, "sharpe"] == pytest.approx(overall.loc[portfolio, "sharpe"], rel=1e-6)
        assert sheet.loc[portfolio, "max_drawdown"] == pytest.approx(equity.loc[portfolio, "worst"], rel=1e-6)
        assert sheet.loc[portfolio, "trades"] == overall.loc[portfolio, "trades"]
    first = read(db, "SELECT min(date) d FROM signal_scores WHERE origin = 'replay'")["d"].item()
    window = read(db, f"SELECT return_net FROM signal_outcomes WHERE date >= DATE '{first:%Y-%m-%d}' AND return_net IS NOT NULL AND outcome <> 'open'")
    wins, losing = window.loc[window["return_net"] > 0, "return_net"].sum(), -window.loc[window["return_net"] < 0, "return_net"].sum()
    assert sheet.loc["consensus (unfiltered)", "profit_factor"] == pytest.approx(wins / losing)  # per trade, by hand
    run_id = materialization_metadata(result, "performance_summary")["tearsheet"].value.rstrip("/)").split("/")[-1]
    artifacts = mlflow_resource(Path(db).parent / "mlruns").store().client().list_artifacts(run_id, "reports")
    assert [a.path for a in artifacts] == ["reports/tearsheet_replay.html"]


def test_the_forward_record_check_reads_the_newest_year_of_as_issued_scores(bundled_run):
    db, result = bundled_run
    check = {e.check_name: e for e in result.get_asset_check_evaluations()}["forward_record_holds"]
    window = read(db, """SELECT count(*) n, avg(label) rate, avg(ml_probability) p FROM signal_outcomes
                         WHERE label IS NOT NULL AND ml_probability IS NOT NULL AND exit_date > DATE '2018-02-07' - INTERVAL 365 DAY""").iloc[0]
    assert check.metadata["signals"].value == window["n"] and check.metadata["day"].value == "2018-02-07"
    assert check.metadata["success_rate"].value == pytest.approx(window["rate"], rel=1e-3)  # shown to 4 digits
    assert check.metadata["mean_probability"].value == pytest.approx(window["p"], rel=1e-3)
    # Calibrated: within 5 points, or the mean probability inside the success rate's 95 % Wilson interval (by hand).
    n, rate, z = window["n"], window["rate"], 1.959963984540054
    centre, half = (rate + z * z / (2 * n)) / (1 + z * z / n), z * np.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    calibrated = abs(window["p"] - rate) <= 0.05 or centre - half <= window["p"] <= centre + half
    # Ranks: the probability's standing on that day, as the scores issued then recorded it.
    ranks = read(db, "SELECT probability_earned FROM signal_scores WHERE issued_on = DATE '2018-02-07' LIMIT 1")["probability_earned"].item()
    assert check.metadata["calibrated"].value == calibrated and check.metadata["ranks_returns"].value == bool(ranks)
    assert check.passed == (calibrated and bool(ranks)) and check.severity == dg.AssetCheckSeverity.WARN


def test_the_scores_daily_rank_ic_is_the_mean_of_each_days_spearman(bundled_db):
    first = read(bundled_db, "SELECT min(date) d FROM signal_scores WHERE origin = 'replay'")["d"].item()
    trades = read(bundled_db, f"""SELECT date, ml_probability, return_net FROM signal_outcomes
                                 WHERE date >= DATE '{first:%Y-%m-%d}' AND ml_probability IS NOT NULL AND return_net IS NOT NULL AND outcome <> 'open'""")
    days = [g for _, g in trades.groupby("date") if len(g) >= 5]
    by_day = [spearmanr(g["ml_probability"], g["return_net"]).statistic for g in days]
    stored = read(bundled_db, "SELECT * FROM performance_ic WHERE record = 'replay' AND score = 'ml_probability'").iloc[0]
    assert stored["days"] == len(days)
    assert stored["rank_ic_mean"] == pytest.approx(np.nanmean(by_day))
    assert stored["rank_ic_low"] <= stored["rank_ic_mean"] <= stored["rank_ic_high"]


def test_asking_for_in_sample_rows_is_refused_and_nothing_is_written(definitions, bundled_db, tmp_path):
    db = private_copy(bundled_db, tmp_path)
    before = stored_tables(db)
    config = {"ops": {"performance_summary": {"config": {"start": "2015-01-02"}}}}
    result = materialize(definitions, db, PriceSourceResource(), selection=["performance_summary"], run_config=config, raise_on_error=False)
    assert not result.success
    assert "refusing to report signals from 2015-01-02 as out-of-sample" in failure_message(result)
    assert_tables_unchanged(before, db)
