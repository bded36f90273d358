"""strategy_signals, shariah_screen and consensus_signals as stored by real Dagster runs."""

import shutil

import dagster as dg
import pandas as pd
import pytest

from emergent_pipeline.core.strategies.registry import STRATEGY_NAMES
from emergent_pipeline.defs.prices.resources import PriceSourceResource

from emergent_pipeline_tests.conftest import materialization_metadata, materialize, read, table_rows


@pytest.fixture
def db_copy(bundled_db, tmp_path):
    """A private copy of the fully materialized bundled database, to re-run single assets on."""
    path = tmp_path / "emergent.duckdb"
    shutil.copy(bundled_db, path)
    return path


def test_strategy_signals_table(bundled_db):
    summary = read(bundled_db, "SELECT strategy, count(*) n, min(confidence) lo, max(confidence) hi FROM strategy_signals GROUP BY strategy")
    assert set(summary["strategy"]) == set(STRATEGY_NAMES)  # all ten fire
    assert summary["lo"].min() >= 0 and summary["hi"].max() <= 1
    row = read(bundled_db, "SELECT * FROM strategy_signals WHERE strategy = 'breakout' LIMIT 1").iloc[0]
    assert set(dict(row["indicators"])) >= {"range_high_20_prev", "volume_ratio"}


def test_consensus_tables(bundled_db):
    consensus = read(bundled_db, "SELECT * FROM consensus_signals")
    assert len(consensus) > 2_000
    assert set(consensus["quality_tier"]) <= {"HIGH", "MEDIUM", "LOW"}
    assert set(consensus["shariah_status"]) <= {"COMPLIANT", "NON_COMPLIANT", "UNKNOWN"}
    assert {f"{name}_vote" for name in STRATEGY_NAMES} <= set(consensus.columns)
    unmatched = read(
        bundled_db,
        "SELECT count(*) n FROM consensus_signals c ANTI JOIN consensus_breakdown b ON b.symbol = c.symbol AND b.date = c.date",
    )
    assert unmatched["n"].item() == 0  # every consensus signal has its breakdown
    agreeing = read(bundled_db, "SELECT symbol, date, count(*) n FROM consensus_breakdown WHERE agrees GROUP BY ALL")
    merged = consensus.merge(agreeing, on=["symbol", "date"])
    assert (merged["n"] == merged["supporters"]).all()


def test_shariah_screen_table(bundled_db):
    """One status per (symbol, day); the issue's names NON_COMPLIANT on the newest day; a consensus
    signal carries the status of its own day."""
    counts = read(bundled_db, "SELECT (SELECT count(*) FROM shariah_screen) s, (SELECT count(*) FROM price_history) p").iloc[0]
    assert counts["s"] == counts["p"]
    newest = read(bundled_db, "SELECT * FROM shariah_screen WHERE date = (SELECT max(date) FROM shariah_screen)").set_index("symbol")
    for symbol, reason in [("JPM", "conventional finance"), ("BAC", "conventional finance"), ("TAP", "alcohol"), ("STZ", "alcohol"),
                           ("MO", "tobacco"), ("WYNN", "gambling"), ("LMT", "defence")]:
        assert newest.loc[symbol, "status"] == "NON_COMPLIANT" and reason in newest.loc[symbol, "reasons"]
    assert (newest["standard"] == "SP").all() and (newest["status"] == "COMPLIANT").sum() > 0
    mismatched = read(bundled_db, "SELECT count(*) n FROM consensus_signals c JOIN shariah_screen h USING (symbol, date) "
                                  "WHERE c.shariah_status <> h.status")
    assert mismatched["n"].item() == 0


def test_metadata_shows_fires_settings_and_top_signals(definitions, db_copy):
    # A changed setting recomputes the strategies (and the consensus after them); the screen has
    # nothing to recompute and still describes its stored table.
    changed = {"ops": {"strategy_signals": {"config": {"params": {"momentum": {"rsi_low": 41.0}}}}}}
    result = materialize(definitions, db_copy, PriceSourceResource(), selection=["strategy_signals", "consensus_signals", "shariah_screen"],
                         run_config=changed)
    strategies = materialization_metadata(result, "strategy_signals")
    assert strategies["recomputed"].value.startswith("the whole history (the settings of strategy_signals changed)")
    assert materialization_metadata(result, "shariah_screen")["recomputed"].value.startswith("nothing (no input changed")
    assert {r["strategy"] for r in table_rows(strategies["fires_per_strategy"])} >= set(STRATEGY_NAMES)
    assert "a statement is usable on" in strategies["fundamentals"].value
    assert strategies["settings"].value["momentum"]["min_return_20d"] == 0.08
    consensus = materialization_metadata(result, "consensus_signals")
    assert consensus["settings"].value["min_supporters"] == 3
    assert sum(consensus["counts_by_tier"].value.values()) == consensus["dagster/row_count"].value
    assert "composite_score" in table_rows(consensus["newest_day_top_signals"])[0]
    screen = materialization_metadata(result, "shariah_screen")
    assert screen["counts_on_newest_day"].value["NON_COMPLIANT"] > 50
    by_standard = screen["counts_on_newest_day_by_standard"].value
    assert by_standard["SP"] == screen["counts_on_newest_day"].value and by_standard["AAOIFI"]["COMPLIANT"] == 0
    assert screen["shariah_only_policy"].value == "COMPLIANT only"
    assert screen["activity_screen"].value.startswith("ran on")


def test_run_config_changes_the_consensus(definitions, db_copy):
    before = read(db_copy, "SELECT count(*) n FROM consensus_signals")["n"].item()
    config = {"ops": {"consensus_signals": {"config": {"min_supporters": 4}}}}
    result = materialize(definitions, db_copy, PriceSourceResource(), selection=["consensus_signals"], run_config=config)
    after = read(db_copy, "SELECT count(*) n, min(supporters) s FROM consensus_signals").iloc[0]
    assert 0 < after["n"] < before and after["s"] >= 4
    assert materialization_metadata(result, "consensus_signals")["settings"].value["min_supporters"] == 4


def test_strategy_overrides_apply_and_bad_ones_are_named(definitions, db_copy):
    config = {"ops": {"strategy_signals": {"config": {"params": {"momentum": {"min_return_20d": 0.15}}}}}}
    materialize(definitions, db_copy, PriceSourceResource(), selection=["strategy_signals"], run_config=config)
    momentum = read(db_copy, "SELECT min(json_extract(indicators, '$.ret_20')::DOUBLE) r FROM strategy_signals WHERE strategy = 'momentum'")
    assert momentum["r"].item() >= 0.15

    # A misspelt parameter is refused by config validation (in the launchpad, before launch), named with its path.
    bad = {"ops": {"strategy_signals": {"config": {"params": {"momentum": {"min_retrun_20d": 0.15}}}}}}
    with pytest.raises(dg.DagsterInvalidConfigError, match='unexpected config entry "min_retrun_20d" at path .*params:momentum'):
        materialize(definitions, db_copy, PriceSourceResource(), selection=["strategy_signals"], run_config=bad, raise_on_error=False)


def test_shariah_standard_from_run_config(definitions, db_copy):
    config = {"ops": {"shariah_screen": {"config": {"standard": "DJIM"}}}}
    materialize(definitions, db_copy, PriceSourceResource(), selection=["shariah_screen"], run_config=config)
    screen = read(db_copy, "SELECT symbol, standard, activity FROM shariah_screen WHERE date = DATE '2018-02-07'").set_index("symbol")
    assert (screen["standard"] == "DJIM").all()
    assert pd.isna(screen.loc["CCL", "activity"])  # cruise lines are excluded by the strict standards only
    assert screen.loc["BAC", "activity"] == "conventional finance"
