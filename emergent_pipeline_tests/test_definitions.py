import re

import dagster as dg

from emergent_pipeline.definitions import defs
from emergent_pipeline.paths import PROJECT_ROOT

EXPECTED_CHECKS = {
    "price_history_unique_keys",
    "price_history_positive_prices",
    "price_history_ohlc_consistency",
    "price_history_freshness",
    "price_history_extreme_moves",
}


def test_definitions_load():
    dg.Definitions.validate_loadable(defs())


def readme_assets() -> set[str]:
    """The assets README's first table lists (its first column; `a` → `b` rows name several)."""
    head = (PROJECT_ROOT / "README.md").read_text().split("## Set-up")[0]
    return {name for line in head.splitlines() if line.startswith("| `") for name in re.findall(r"`([a-z_]+)`", line.split("|")[1])}


def test_the_graph_holds_exactly_the_assets_readme_describes():
    loaded = defs()
    keys = {key.to_user_string() for key in loaded.resolve_asset_graph().get_all_asset_keys()}
    assert keys == readme_assets() and len(keys) == 18
    checks = {spec.name for check in loaded.asset_checks for spec in check.check_specs}
    assert EXPECTED_CHECKS <= checks


def test_blocking_checks_are_the_ones_that_make_signals_wrong():
    loaded = defs()
    blocking = {spec.name for check in loaded.asset_checks for spec in check.check_specs if spec.blocking}
    assert blocking == {"price_history_unique_keys", "price_history_positive_prices", "price_history_split_jumps"}
