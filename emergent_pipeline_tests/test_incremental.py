"""A refresh after a new day recomputes only that day (with its look-back), and gives exactly what a
full recomputation gives: real bundled bars through the file source, real Dagster runs, real DuckDB."""

import math
import shutil
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from emergent_pipeline.defs.prices.resources import PriceSourceResource
from emergent_pipeline.sources.bundled import ANNUAL_FILE, PRICES_FILE, UNIVERSE_FILE

from emergent_pipeline_tests.conftest import materialization_metadata, materialize, read, table_text
from emergent_pipeline_tests.bundled_inputs import STATEMENT_MAP

ASSETS = ["strategy_signals", "shariah_screen", "consensus_signals", "signal_features"]
LABELS = "signal_labels"  # re-follows the signals still open, not a range of days
SELECTION = ["price_history", "market_context", *ASSETS, LABELS]
SERVING = ["ml_enhanced_signals", "signal_outcomes", "performance_summary", "serving_snapshot"]  # no model here: unscored
SNAPSHOT_LOGGED = ["price_history", "strategy_signals", "shariah_screen", "consensus_breakdown", "signal_features"]
PARTITIONED = ["strategy_signals", "shariah_screen"]
TABLES = {
    "price_history": ["symbol", "date"],  # the source step rewrites only the days from the first changed one
    "benchmark_history": ["date"],
    "strategy_signals": ["symbol", "date", "strategy"],
    "shariah_screen": ["symbol", "date"],
    "consensus_signals": ["symbol", "date"],
    "consensus_breakdown": ["symbol", "date", "strategy"],
    "signal_features": ["symbol", "date"],
    "signal_labels": ["symbol", "date"],
}
PER_SIGNAL = ["ml_enhanced_signals", "signal_outcomes"]  # joins per signal, rewritten from their first changed signal day
SORT = {**TABLES, **{t: ["symbol", "date"] for t in PER_SIGNAL}}
SYMBOLS = 150


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """The first 150 bundled symbols (every sector represented) with their statements, as a user's files."""
    folder = tmp_path_factory.mktemp("incremental")
    universe = pd.read_csv(UNIVERSE_FILE).sort_values("symbol").head(SYMBOLS)
    universe.to_csv(folder / "universe.csv", index=False)
    statements = pd.read_csv(ANNUAL_FILE, index_col=0)
    statements[statements["Ticker Symbol"].isin(universe["symbol"])].to_csv(folder / "statements.csv", index=False)
    prices = pd.read_parquet(PRICES_FILE)
    prices = prices[prices["symbol"].isin(universe["symbol"])]
    prices.to_parquet(folder / "all_days.parquet")
    prices[prices["date"] < prices["date"].max()].to_parquet(folder / "but_the_last.parquet")
    return {"folder": folder, "universe": folder / "universe.csv", "statements": folder / "statements.csv",
            "all_days": folder / "all_days.parquet", "but_the_last": folder / "but_the_last.parquet"}


def source(files: dict[str, Path], prices: Path) -> PriceSourceResource:
    return PriceSourceResource(kind="file", path=str(prices), universe_path=str(files["universe"]),
                               fundamentals_path=str(files["statements"]), fundamentals_column_map=STATEMENT_MAP,
                               adjust_splits=True)


def assert_same(left: pd.DataFrame, right: pd.DataFrame) -> None:
    """Equal tables, up to the last bits of floating point (a rolling sum started at another day
    rounds differently in its 16th digit); the indicator maps are compared name by name."""
    maps = [c for c in ("indicators",) if c in left]
    pd.testing.assert_frame_equal(left.drop(columns=maps), right.drop(columns=maps), check_exact=False, rtol=1e-9)
    for column in maps:
        for a, b in zip(left[column], right[column]):
            assert a.keys() == b.keys()
            assert all(a[k] is b[k] is None or math.isclose(a[k], b[k], rel_tol=1e-9, abs_tol=1e-12) for k in a), (a, b)


def ordered(db: Path, table: str) -> pd.DataFrame:
    return read(db, f"SELECT * FROM {table} ORDER BY {', '.join(SORT[table])}").reset_index(drop=True)


@pytest.fixture(scope="module")
def stores(definitions, files) -> dict:
    """One store refreshed after a new day, and one computed in full on every day."""
    incremental, full = (files["folder"] / name / "store.duckdb" for name in ("incremental", "full"))  # each with its own snapshot
    for store in (incremental, full):
        store.parent.mkdir()
    assert materialize(definitions, incremental, source(files, files["but_the_last"]), selection=SELECTION + SERVING).success
    before = {t: ordered(incremental, t) for t in [*TABLES, *PER_SIGNAL]}
    shutil.copy(incremental, files["folder"] / "before_the_refresh.duckdb")
    refresh = materialize(definitions, incremental, source(files, files["all_days"]), selection=SELECTION + SERVING)
    assert refresh.success
    assert materialize(definitions, full, source(files, files["all_days"]), selection=SELECTION + SERVING).success
    return {"incremental": incremental, "full": full, "before": before, "refresh": refresh,
            "before_the_refresh": files["folder"] / "before_the_refresh.duckdb"}


def test_the_refresh_says_it_recomputed_only_the_new_day(stores):
    newest = read(stores["full"], "SELECT max(date) d FROM price_history")["d"].item()
    for asset in ASSETS:
        note = materialization_metadata(stores["refresh"], asset)["recomputed"].value
        assert note.startswith(f"the days from {pd.Timestamp(newest):%Y-%m-%d}"), note


def test_the_refresh_counts_only_the_new_days_rows_as_added(stores, files):
    """The file hands over every bar again; the rows added are the new day's, one per symbol."""
    new_day = pd.read_parquet(files["all_days"]).pipe(lambda p: p[p["date"] == p["date"].max()])
    assert materialization_metadata(stores["refresh"], "price_history")["rows_added"].value == len(new_day) > 0


def test_the_refresh_shows_only_its_month_as_materialized_again(stores):
    """The partition view follows the table: a run without a partition records the months it rewrote."""
    for asset in PARTITIONED:
        months = {e.partition for e in stores["refresh"].get_asset_materialization_events()
                  if e.asset_key == dg.AssetKey(asset) and e.partition is not None}
        assert months == {"2018-02"}, asset


@pytest.mark.parametrize("table", list(TABLES))
def test_an_incremental_refresh_gives_what_a_full_recomputation_gives(stores, table):
    incremental, full = ordered(stores["incremental"], table), ordered(stores["full"], table)
    assert len(incremental) > 0
    assert_same(incremental, full)


@pytest.mark.parametrize("table", [t for t in TABLES if t != LABELS])
def test_rows_before_the_new_day_are_untouched(stores, table):
    newest = read(stores["full"], "SELECT max(date) d FROM price_history")["d"].item()
    before, after = stores["before"][table], ordered(stores["incremental"], table)
    old_days = after[after["date"] < pd.Timestamp(newest)].reset_index(drop=True)
    pd.testing.assert_frame_equal(old_days, before, check_exact=True)
    assert len(after) - len(before) == int((after["date"] == pd.Timestamp(newest)).sum())


def test_the_refresh_follows_again_only_the_signals_not_settled_before_the_new_day(stores):
    """A label is settled when its signal and its whole horizon lie before the new day: those rows
    stay exactly as they were; the refresh follows again only the others (open, or resolved with
    their horizon still running) and the new day's signals."""
    newest = pd.Timestamp(read(stores["full"], "SELECT max(date) d FROM price_history")["d"].item())
    before, after = stores["before"][LABELS], ordered(stores["incremental"], LABELS)

    def settled(labels: pd.DataFrame) -> pd.Series:
        return (labels["date"] < newest) & (labels["horizon_end"] < newest)

    pd.testing.assert_frame_equal(after[settled(after)].reset_index(drop=True), before[settled(before)].reset_index(drop=True), check_exact=True)
    followed = materialization_metadata(stores["refresh"], LABELS)["rows_recomputed"].value
    assert followed == int((~settled(after)).sum())
    assert 0 < followed < len(after) / 10  # the open tail, not the history
    assert int((after["date"] == newest).sum()) > 0


@pytest.mark.parametrize("table", PER_SIGNAL)
def test_the_per_signal_tables_rewrite_only_the_signals_whose_inputs_changed(stores, table):
    """The outcomes join the labels, so they change from the oldest signal the labels followed again;
    the enhanced signals join the consensus, the scores and the market, which changed on the new day
    only. Those rows are rewritten and equal a full recomputation; the rows before are as they were."""
    newest = pd.Timestamp(read(stores["full"], "SELECT max(date) d FROM price_history")["d"].item())
    labels = ordered(stores["full"], LABELS)
    followed_again = labels[~((labels["date"] < newest) & (labels["horizon_end"] < newest))]  # not settled (no horizon end: open)
    first = followed_again["date"].min() if table == "signal_outcomes" else newest
    before, after = stores["before"][table], ordered(stores["incremental"], table)
    assert_same(after, ordered(stores["full"], table))
    pd.testing.assert_frame_equal(after[after["date"] < first].reset_index(drop=True),
                                  before[before["date"] < first].reset_index(drop=True), check_exact=True)
    rewritten = materialization_metadata(stores["refresh"], table)["rows_recomputed"].value
    assert rewritten == int((after["date"] >= first).sum())
    assert 0 < rewritten < len(after) / 10


def test_the_snapshot_rewrites_only_the_new_day_of_its_long_tables(stores):
    """The refreshed snapshot holds what a full recomputation's holds, and of its long tables the
    publication wrote only the new day's rows."""
    newest = pd.Timestamp(read(stores["full"], "SELECT max(date) d FROM price_history")["d"].item())
    written = materialization_metadata(stores["refresh"], "serving_snapshot")["rows_written"].value
    incremental, full = (stores[name].parent / "serving.duckdb" for name in ("incremental", "full"))
    for table in [*SNAPSHOT_LOGGED, "signal_outcomes"]:
        assert_same(ordered(incremental, table), ordered(full, table))
    for table in SNAPSHOT_LOGGED:
        assert written[table] == int((ordered(full, table)["date"] == newest).sum()) > 0, table
    outcomes_rewritten = materialization_metadata(stores["refresh"], "signal_outcomes")["rows_recomputed"].value
    assert written["signal_outcomes"] == outcomes_rewritten < len(ordered(full, "signal_outcomes")) / 10


def test_a_refresh_of_the_labels_that_fails_midway_changes_nothing(definitions, stores, files, monkeypatch, tmp_path):
    """The labels' refresh deletes the rows not settled and inserts them followed again: a failure
    after the insert leaves the labels and the change log as they were, and names its cause."""
    from emergent_pipeline.defs.ml import assets as ml_assets

    from emergent_pipeline_tests.conftest import assert_tables_unchanged, failure_message, stored_tables

    store = tmp_path / "labels.duckdb"
    shutil.copy(stores["before_the_refresh"], store)
    upstream = [asset for asset in SELECTION if asset != LABELS]
    assert materialize(definitions, store, source(files, files["all_days"]), selection=upstream).success
    before = stored_tables(store)
    real_write = ml_assets.write_rows

    def written_then_lost(conn, name, frame, create):
        real_write(conn, name, frame, create)
        raise RuntimeError(f"the disk filled after {len(frame)} rows of {name}")

    monkeypatch.setattr(ml_assets, "write_rows", written_then_lost)
    result = materialize(definitions, store, source(files, files["all_days"]), selection=[LABELS], raise_on_error=False)
    assert not result.success and "the disk filled after" in failure_message(result) and "rows of signal_labels" in failure_message(result)
    assert_tables_unchanged(before, store)


def test_nothing_new_recomputes_nothing(definitions, stores, files):
    result = materialize(definitions, stores["incremental"], source(files, files["all_days"]), selection=SELECTION)
    for asset in [*ASSETS, LABELS]:
        assert materialization_metadata(result, asset)["recomputed"].value.startswith("nothing (no input changed")


def test_changed_settings_recompute_everything(definitions, stores, files):
    config = {"ops": {"strategy_signals": {"config": {"params": {"momentum": {"rsi_low": 45.0}}}}}}
    result = materialize(definitions, stores["incremental"], source(files, files["all_days"]), selection=SELECTION, run_config=config)
    assert materialization_metadata(result, "strategy_signals")["recomputed"].value.startswith("the whole history (the settings of strategy_signals changed)")
    # consensus follows: its input was rewritten whole
    assert materialization_metadata(result, "consensus_signals")["recomputed"].value.startswith("the whole history")



def days_flagged(definitions, store: Path, files, asset: str, check: str, check_op: str, planted: pd.DataFrame) -> tuple[set[str], set[str]]:
    """The planted rows' days that ``asset``'s ``check`` lists, run as the daily refresh runs it (the
    newest change's days) and with ``full: true`` (every day), on the store in ``store``."""
    selection = dg.AssetSelection.checks_for_assets(dg.AssetKey(asset))

    def flagged(run_config: dict | None) -> set[str]:
        result = materialize(definitions, store, source(files, files["all_days"]), selection=selection, run_config=run_config, raise_on_error=False)
        rows = table_text({e.check_name: e for e in result.get_asset_check_evaluations()}[check].metadata["rows"])
        return {f"{d:%Y-%m-%d}" for d in planted["date"] if f"{d:%Y-%m-%d}" in rows}

    return flagged(None), flagged({"ops": {check_op: {"config": {"full": True}}}})

def test_the_refresh_checks_the_new_day_with_its_look_back(stores):
    newest = pd.Timestamp(read(stores["full"], "SELECT max(date) d FROM price_history")["d"].item())
    evaluations = [e for e in stores["refresh"].get_asset_check_evaluations() if e.asset_key == dg.AssetKey("price_history")]
    assert {e.check_name for e in evaluations} >= {"price_history_unique_keys", "price_history_split_jumps"}
    for evaluation in evaluations:
        if evaluation.check_name != "price_history_freshness":
            note = evaluation.metadata["checked"].value
            assert note.startswith("the days from ") and f"changed them from {newest:%Y-%m-%d}" in note, note


def test_a_check_of_the_new_days_sees_their_bad_rows_and_a_full_check_every_days(definitions, stores, files, tmp_path):
    """A row written by something else: on the newest day the daily check sees it; on a day long
    before, only a full check does (the monthly one, or one asked for)."""
    import shutil

    import duckdb

    store = tmp_path / "planted.duckdb"
    shutil.copy(stores["incremental"], store)
    with duckdb.connect(str(store)) as conn:
        for day in ("(SELECT max(date) FROM price_history)", "(SELECT min(date) + 100 FROM price_history)"):
            conn.execute(f"INSERT INTO price_history SELECT * FROM price_history WHERE date = (SELECT min(date) FROM price_history "
                         f"WHERE date >= {day}) ORDER BY symbol LIMIT 1")
        planted = conn.execute("SELECT symbol, date FROM price_history GROUP BY ALL HAVING count(*) > 1 ORDER BY date").df()
    assert len(planted) == 2
    daily, full = days_flagged(definitions, store, files, "price_history", "price_history_unique_keys", "price_history_checks", planted)
    assert daily == {f"{planted['date'].iloc[1]:%Y-%m-%d}"}
    assert full == {f"{d:%Y-%m-%d}" for d in planted["date"]}


def test_a_history_built_in_chunks_on_a_dask_cluster_gives_what_one_pass_gives(definitions, stores, files, monkeypatch):
    """Memory follows the chunk, not the history, and the chunks can be computed past this process:
    seven chunks of about 200 days, computed on a real Dask cluster (a scheduler and two worker
    processes over TCP on 127.0.0.1) and written in order by the run's process, give the same tables."""
    from distributed import Client, get_task_stream

    from emergent_pipeline import engine
    from emergent_pipeline.dask_cluster import local_cluster
    from emergent_pipeline.defs import incremental

    monkeypatch.setattr(incremental, "ROWS_PER_CHUNK", SYMBOLS * 200)
    chunked = files["folder"] / "on_the_cluster.duckdb"
    with local_cluster(workers=2) as cluster, Client(cluster.address, set_as_default=False) as client, get_task_stream(client) as tasks:
        monkeypatch.setenv(engine.SCHEDULER, cluster.address)
        result = materialize(definitions, chunked, source(files, files["all_days"]), selection=SELECTION)
    chunks_by_worker = pd.Series([task["worker"] for task in tasks.data if task["key"].startswith("_computed_chunk")]).value_counts()
    assert len(chunks_by_worker) == 2, chunks_by_worker  # both worker processes computed chunks
    assert "in 7 chunk(s)" in materialization_metadata(result, "strategy_signals")["recomputed"].value
    for table in TABLES:
        assert_same(ordered(chunked, table), ordered(stores["full"], table))


def months(first: str, last: str) -> dict[str, str]:
    return {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}


def test_a_backfill_of_months_in_two_runs_gives_what_one_pass_gives(definitions, stores, files):
    """A backfill as the UI launches it: the months in runs of their own (here two ranges, each
    reading the prices before it for its look-back), then the consensus and features after them,
    give the tables one pass gives, and Dagster records every month as materialized."""
    store, instance = files["folder"] / "backfilled.duckdb", dg.DagsterInstance.ephemeral()
    prices = source(files, files["all_days"])
    assert materialize(definitions, store, prices, selection=["price_history", "market_context"]).success
    for first, last in [("2013-02", "2015-12"), ("2016-01", "2018-02")]:
        result = materialize(definitions, store, prices, selection=PARTITIONED, tags=months(first, last), instance=instance)
        for asset in PARTITIONED:
            note = materialization_metadata(result, asset)["recomputed"].value
            assert note.startswith(f"the days from {first}-") and f"the months {first} to {last} were requested" in note, note
    assert materialize(definitions, store, prices, selection=["consensus_signals", "signal_features", LABELS], instance=instance).success
    for table in TABLES:
        assert_same(ordered(store, table), ordered(stores["full"], table))
    expected = set(pd.period_range("2013-02", "2018-02", freq="M").strftime("%Y-%m"))
    for asset in PARTITIONED:
        assert expected <= instance.get_materialized_partitions(dg.AssetKey(asset)), asset


def test_a_range_of_months_that_fails_midway_changes_nothing(definitions, stores, files, monkeypatch, tmp_path):
    """A backfill run of a year of months, in chunks of about 100 days, whose third chunk fails: the
    chunks staged before it are dropped with it (no table created or left), every table (the change
    log too) is as before, and no month of the range is recorded as materialized."""
    import shutil

    from emergent_pipeline.defs import incremental

    from emergent_pipeline_tests.conftest import assert_tables_unchanged, failure_message, stored_tables

    store, instance = tmp_path / "failing.duckdb", dg.DagsterInstance.ephemeral()
    shutil.copy(stores["incremental"], store)
    before = stored_tables(store)
    calls, real_compute = [], incremental.compute_chunk

    def third_chunk_fails(compute, frames, first, last):
        calls.append(first)
        if len(calls) == 3:
            raise RuntimeError(f"chunk from {first:%Y-%m-%d} lost its worker")
        return real_compute(compute, frames, first, last)

    monkeypatch.setattr(incremental, "ROWS_PER_CHUNK", SYMBOLS * 100)
    monkeypatch.setattr(incremental, "compute_chunk", third_chunk_fails)
    result = materialize(definitions, store, source(files, files["all_days"]), selection=["strategy_signals"],
                         tags=months("2016-01", "2016-12"), instance=instance, raise_on_error=False)
    assert not result.success and "lost its worker" in failure_message(result)
    assert len(calls) == 3
    assert_tables_unchanged(before, store)
    assert not instance.get_materialized_partitions(dg.AssetKey("strategy_signals"))


def test_the_refresh_split_checks_and_writes_only_the_new_days_bars(stores, files):
    """The file hands over every bar again, but its stored days are unchanged (their fingerprints):
    only the new day's bars are checked for splits and written; the history stays as stored."""
    metadata = materialization_metadata(stores["refresh"], "price_history")
    new_day = pd.read_parquet(files["all_days"]).pipe(lambda p: p[p["date"] == p["date"].max()])
    assert metadata["bars_processed"].value.startswith("only the new days"), metadata["bars_processed"].value
    assert metadata["bars_split_checked"].value == len(new_day)


@pytest.mark.parametrize("table", ["price_history", "benchmark_history", "price_fingerprints"])
def test_the_source_tables_of_an_appended_day_equal_a_full_pass_to_the_bit(stores, table):
    order = {"price_fingerprints": "symbol"}.get(table, ", ".join(TABLES.get(table, [])))
    incremental, full = (read(stores[s], f"SELECT * FROM {table} ORDER BY {order}") for s in ("incremental", "full"))
    pd.testing.assert_frame_equal(incremental, full, check_exact=True)


def test_a_stored_day_changed_in_the_file_takes_the_whole_history_and_says_why(stores, files, definitions, tmp_path):
    """A vendor's revision of an old bar is no appended day: the whole history is checked and
    stored again, and the metadata names the symbol whose stored days changed."""
    store = tmp_path / "store.duckdb"
    shutil.copy(stores["before_the_refresh"], store)
    prices = pd.read_parquet(files["all_days"])
    revised = prices.index[(prices["symbol"] == prices["symbol"].min()) & (prices["date"] == prices["date"].min())]
    prices.loc[revised, "volume"] += 100
    prices.to_parquet(tmp_path / "revised.parquet")
    result = materialize(definitions, store, source(files, tmp_path / "revised.parquet"), selection=["price_history"])
    processed = materialization_metadata(result, "price_history")["bars_processed"].value
    assert processed.startswith("the whole history (the stored days of 1 symbol(s) changed") and prices["symbol"].min() in processed
    stored = read(store, "SELECT volume FROM price_history ORDER BY symbol, date LIMIT 1")["volume"].item()
    assert stored == prices.loc[revised, "volume"].item()


def test_the_outcomes_check_reads_the_rewritten_signals_and_a_full_check_all(definitions, stores, files, tmp_path):
    """An exit price no bar allows, planted in a signal the refresh rewrote and in one long before:
    the daily check finds the first, a full check both."""
    import duckdb

    store = tmp_path / "planted.duckdb"
    shutil.copy(stores["incremental"], store)
    rewritten_from = read(store, "SELECT changed_from FROM asset_changes WHERE asset = 'signal_outcomes' ORDER BY version DESC LIMIT 1")
    since = pd.Timestamp(rewritten_from["changed_from"].item())
    with duckdb.connect(str(store)) as conn:
        for side in (f"date >= DATE '{since:%Y-%m-%d}'", f"date < DATE '{since - pd.Timedelta(days=400):%Y-%m-%d}'"):
            conn.execute(f"UPDATE signal_outcomes SET exit_price = exit_price * 3 WHERE (symbol, date) = "
                         f"(SELECT (symbol, date) FROM signal_outcomes WHERE outcome = 'timeout' AND {side} ORDER BY date, symbol LIMIT 1)")
    planted = read(store, "SELECT o.symbol, o.date FROM signal_outcomes o JOIN price_history x ON x.symbol = o.symbol AND x.date = o.exit_date "
                          "WHERE o.exit_price > x.high * 1.01 AND o.outcome = 'timeout' ORDER BY o.date")
    assert len(planted) == 2
    daily, full = days_flagged(definitions, store, files, "signal_outcomes", "outcomes_match_prices",
                               "signal_outcomes_outcomes_match_prices", planted)
    assert daily == {f"{planted['date'].iloc[1]:%Y-%m-%d}"}
    assert full == {f"{d:%Y-%m-%d}" for d in planted["date"]}
