import dagster as dg

from emergent_pipeline.definitions import defs

EXPECTED_ASSETS = {"universe", "price_history", "fundamentals", "benchmark_history", "market_context"}
EXPECTED_CHECKS = {
    "price_history_unique_keys",
    "price_history_positive_prices",
    "price_history_ohlc_consistency",
    "price_history_freshness",
    "price_history_extreme_moves",
}


def test_definitions_load():
    dg.Definitions.validate_loadable(defs())


def test_graph_has_the_foundation_assets_and_checks():
    loaded = defs()
    keys = {key.to_user_string() for key in loaded.resolve_asset_graph().get_all_asset_keys()}
    assert EXPECTED_ASSETS <= keys
    checks = {spec.name for check in loaded.asset_checks for spec in check.check_specs}
    assert EXPECTED_CHECKS <= checks


def test_blocking_checks_are_the_ones_that_make_signals_wrong():
    loaded = defs()
    blocking = {spec.name for check in loaded.asset_checks for spec in check.check_specs if spec.blocking}
    assert blocking == {"price_history_unique_keys", "price_history_positive_prices", "price_history_split_jumps"}
