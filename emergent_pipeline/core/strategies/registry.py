"""The ten strategies by name, with their parameter classes and consensus weights, and running them all on a panel.

The one list of strategies: every other list (the consensus weights, the model's per-strategy
features, the data dictionary, the API's strategy names) is built from :data:`STRATEGIES`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

import pandas as pd

from emergent_pipeline.core.strategies import (
    breakout, fundamental_growth, low_volatility, mean_reversion, momentum, multibagger, pivot_cpr,
    sector_rotation, swing, value,
)
from emergent_pipeline.core.strategies.base import empty_signals


@dataclass(frozen=True)
class Strategy:
    name: str
    generate: Callable[..., pd.DataFrame]
    params: type
    weight: float
    """Its default weight in the consensus confidence (the domain spec's)."""
    needs_fundamentals: bool = False


STRATEGIES: dict[str, Strategy] = {
    s.name: s
    for s in [
        Strategy(momentum.NAME, momentum.generate, momentum.Params, 0.15),
        Strategy(mean_reversion.NAME, mean_reversion.generate, mean_reversion.Params, 0.12),
        Strategy(breakout.NAME, breakout.generate, breakout.Params, 0.13),
        Strategy(value.NAME, value.generate, value.Params, 0.11, needs_fundamentals=True),
        Strategy(swing.NAME, swing.generate, swing.Params, 0.10),
        Strategy(multibagger.NAME, multibagger.generate, multibagger.Params, 0.08),
        Strategy(fundamental_growth.NAME, fundamental_growth.generate, fundamental_growth.Params, 0.09, needs_fundamentals=True),
        Strategy(low_volatility.NAME, low_volatility.generate, low_volatility.Params, 0.08),
        Strategy(sector_rotation.NAME, sector_rotation.generate, sector_rotation.Params, 0.07),
        Strategy(pivot_cpr.NAME, pivot_cpr.generate, pivot_cpr.Params, 0.07),
    ]
}
STRATEGY_NAMES = tuple(STRATEGIES)
DEFAULT_WEIGHTS: dict[str, float] = {s.name: s.weight for s in sorted(STRATEGIES.values(), key=lambda s: -s.weight)}
"""The consensus weights, heaviest first (ties in registry order), as the domain spec lists them: the
order of the model's per-strategy features and of the launchpad's weights."""


def resolve_params(overrides: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """Each strategy's parameters: the spec's defaults with ``overrides[name][field]`` applied.

    An unknown strategy or field is an error that names the valid ones.
    """
    overrides = dict(overrides or {})
    unknown = set(overrides) - set(STRATEGIES)
    if unknown:
        raise ValueError(f"unknown strategies {sorted(unknown)}; valid: {list(STRATEGIES)}")
    resolved = {}
    for name, strategy in STRATEGIES.items():
        changes = dict(overrides.get(name, {}))
        valid = {f.name for f in fields(strategy.params)}
        if set(changes) - valid:
            raise ValueError(f"{name} has no parameter(s) {sorted(set(changes) - valid)}; valid: {sorted(valid)}")
        resolved[name] = replace(strategy.params(), **changes)
    return resolved


def run_strategies(panel: pd.DataFrame, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Every strategy's signals on ``panel`` (from ``build_strategy_panel``), stacked in registry
    order, each strategy's by symbol and date."""
    params = params or resolve_params()
    frames = [STRATEGIES[name].generate(panel, params[name]) for name in STRATEGIES]
    frames = [f for f in frames if len(f)]
    if not frames:
        return empty_signals()
    return pd.concat(frames, ignore_index=True)  # by strategy, then symbol and date
