"""The data dictionary (``emergent_pipeline.columns``) describes every column the pipeline stores."""

from __future__ import annotations

import duckdb

from emergent_pipeline.columns import COLUMNS, TABLE_COLUMNS, describe
from emergent_pipeline.core.consensus import ConsensusParams

MAX_LENGTH = 160
SPEC_STRATEGIES = ["momentum", "mean_reversion", "breakout", "value", "swing", "multibagger", "fundamental_growth", "low_volatility",
                   "sector_rotation", "pivot_cpr"]
"""The ten strategies of the domain spec."""
BOOKKEEPING = {"asset_changes", "asset_inputs", "snapshot_manifest"}
"""Tables of the change log and the serving manifest: described as well, and checked with the rest."""
TABLE_OF_ASSET = {"signal_model_evaluation": "model_evaluations", "signal_replay": "signal_scores",
                  "serving_snapshot": "snapshot_manifest"}
"""The assets whose own table is not named after them."""


def stored_columns(db_path) -> dict[str, list[str]]:
    """Table -> its column names, for every table of the store."""
    with duckdb.connect(str(db_path), read_only=True) as conn:
        rows = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'main' "
            "ORDER BY table_name, ordinal_position").fetchall()
    tables: dict[str, list[str]] = {}
    for table, column in rows:
        tables.setdefault(table, []).append(column)
    return tables


def test_every_stored_column_is_described(bundled_db):
    tables = stored_columns(bundled_db)
    assert {"price_history", "strategy_signals", "consensus_signals", "signal_outcomes"} <= set(tables)
    assert BOOKKEEPING <= set(tables)
    undescribed = [f"{t}.{c}" for t, columns in tables.items() for c in columns if not describe(t, c).strip()]
    too_long = [f"{t}.{c} ({len(describe(t, c))})" for t, columns in tables.items() for c in columns if len(describe(t, c)) > MAX_LENGTH]
    assert not undescribed, f"columns without a description: {undescribed}"
    assert not too_long, f"descriptions longer than {MAX_LENGTH} characters: {too_long}"


def test_every_stored_table_has_its_schema_in_the_metadata_of_the_asset_that_writes_it(bundled_run):
    """The last materialization of each asset: its own table as `dagster/column_schema`, the other
    tables it writes as `columns of <table>`; every table of the store (but the change log's) is shown
    by one asset, with the columns and types DuckDB reports."""
    db_path, result = bundled_run
    with duckdb.connect(str(db_path), read_only=True) as conn:
        stored = {table: [(column, kind) for column, kind, *_ in conn.execute(f"DESCRIBE {table}").fetchall()]
                  for table in stored_columns(db_path)}
    last = {event.asset_key.to_user_string(): event.materialization.metadata  # a month's record comes before its asset's own
            for event in result.get_asset_materialization_events()}
    shown: dict[str, list[tuple[str, str]]] = {}
    for asset, metadata in last.items():
        table = TABLE_OF_ASSET.get(asset, asset)
        if table in stored:
            assert "dagster/column_schema" in metadata, f"{asset} writes {table} but records no column schema"
            shown[table] = [(c.name, c.type) for c in metadata["dagster/column_schema"].schema.columns]
            assert metadata["dagster/row_count"].value >= 0
        else:
            assert "dagster/column_schema" not in metadata, f"{asset}'s column schema is of no stored table"
        for key, value in metadata.items():
            if key.startswith("columns of "):
                shown[key.removeprefix("columns of ")] = [(c.name, c.type) for c in value.schema.columns]
    assert set(stored) - set(shown) == {"asset_changes", "asset_inputs"}
    assert {table: stored[table] for table in shown} == shown


def test_every_entry_is_short_and_not_empty():
    entries = {("*", c): d for c, d in COLUMNS.items()} | {(t, c): d for t, m in TABLE_COLUMNS.items() for c, d in m.items()}
    assert not [key for key, d in entries.items() if not d.strip() or len(d) > MAX_LENGTH]


def test_table_entry_comes_before_the_shared_one():
    assert describe("benchmark_history", "close") == TABLE_COLUMNS["benchmark_history"]["close"]
    assert describe("price_history", "close") == COLUMNS["close"]
    assert describe("price_history", "no_such_column") == ""


def test_strategy_columns_are_described_by_rule():
    for strategy in SPEC_STRATEGIES:
        for part in ("vote", "confidence"):
            text = describe("consensus_signals", f"{strategy}_{part}")
            assert strategy in text and len(text) <= MAX_LENGTH
    assert describe("consensus_signals", "unknown_strategy_vote") == ""


def test_the_dictionary_follows_a_changed_consensus_config():
    """A rule a user can configure is described from the configuration, never from copied numbers."""
    custom = ConsensusParams(confidence_weight=0.5, agreement_weight=0.25, supporters_weight=0.25, min_composite=0.4, high_tier=0.8)
    assert custom.composite_formula().startswith("0.5·consensus_confidence + 0.25·agreement + 0.25·supporters/10 (0–1)")
    assert "below 0.40 are dropped" in custom.composite_formula() and custom.tier_rule().startswith("HIGH (composite_score ≥ 0.80)")
    assert COLUMNS["composite_score"].startswith(ConsensusParams().composite_formula())
