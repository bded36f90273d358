"""Run config of the signal assets: every threshold, weight and policy, with the spec's defaults.

Shown in the launchpad of the Dagster UI ("Scaffold all default config" writes out every field
below with its default; the editor shows each field's description); the effective values are
echoed in each asset's metadata.

The strategy parameters and the consensus weights are typed config generated from their one
definition (the `Params` dataclass of each strategy, `DEFAULT_WEIGHTS`): a free-form mapping
would show the launchpad nothing to fill in, accept a misspelt name until the run fails, and a
partial weights mapping would silently leave the other strategies out of the consensus.
"""

from __future__ import annotations

import ast
import inspect
import sys
import textwrap
import typing
from dataclasses import MISSING, asdict, fields
from typing import Any, Literal

import dagster as dg
from pydantic import Field, create_model, model_validator

from emergent_pipeline.core.consensus import ConsensusParams
from emergent_pipeline.core.shariah import DEFAULT_STANDARD, ShariahSettings
from emergent_pipeline.core.strategies.registry import DEFAULT_WEIGHTS, STRATEGIES

_CONSENSUS = ConsensusParams()


def _allows_none(annotation: Any) -> bool:
    return annotation is type(None) or type(None) in typing.get_args(annotation)


class LaunchpadConfig(dg.Config):
    """A key typed with nothing after it (`rsi_low:` in the launchpad's YAML) means its default.

    Dagster passes such a blank (None) through config validation for every field that has a
    default, and pydantic would then fail the run on it; dropping it here lets the default apply.
    A nested section left blank (`params:`) is rejected by Dagster's validation before launch."""

    @model_validator(mode="before")
    @classmethod
    def blank_means_default(cls, values: Any) -> Any:
        if not isinstance(values, dict):
            return values
        known = cls.model_fields
        return {k: v for k, v in values.items() if v is not None or k not in known or _allows_none(known[k].annotation)}


# What the parameters every strategy shares do, for the launchpad. A strategy's own parameters are
# described where they are defined, by an attribute docstring in its `Params` dataclass (which also
# wins over the shared text); one without either falls back to a generic text, and a test
# (test_launchpad.py) names it.
COMMON_PARAMETERS = {
    "validity_days": "Bars the signal stays active after it fires (the consensus counts it while active).",
    "confidence_scale": "Confidence = 1 - exp(-score / scale): a larger scale gives the same setup a lower confidence.",
    "min_volume_ratio": "Smallest volume_ratio (D's volume / its 20-day average) that fires.",
    "stop_atr": "Stop distance from the entry, in ATR(14).",
    "min_reward_risk": "Fires only when (target - entry) / (entry - stop) is at least this.",
}
def attribute_docstrings(cls: type) -> dict[str, str]:
    """The string literal under a field of a class body (`x: float = 1.0` then `\"\"\"...\"\"\"`),
    by field name: where a strategy documents a parameter itself, that text is the one definition."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError):
        return {}
    body = tree.body[0].body
    docs = {}
    for node, following in zip(body, body[1:]):
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant) and isinstance(following.value.value, str)):
            docs[node.target.id] = " ".join(following.value.value.split())
    return docs


def parameter_description(strategy: str, name: str, documented: dict[str, str]) -> str:
    """The launchpad's text for one parameter: the dataclass's own docstring, else the shared table above."""
    return documented.get(name) or COMMON_PARAMETERS.get(name) or f"{name} of {strategy} (undocumented)"


def strategy_params_config(strategy: str, params_class: type) -> type[LaunchpadConfig]:
    """A Config class with one field per field of `params_class`, its type and default taken from
    the dataclass, so that a default is written once, in the strategy's module."""
    hints = typing.get_type_hints(params_class)
    documented = attribute_docstrings(params_class)
    definitions = {}
    for f in fields(params_class):
        default = f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]
        definitions[f.name] = (hints[f.name], Field(default=default, description=parameter_description(strategy, f.name, documented)))
    title = "".join(part.title() for part in strategy.split("_"))
    return create_model(f"{title}Params", __base__=LaunchpadConfig, **definitions)


def strategy_summary(strategy: str) -> str:
    """The first line of the strategy module's docstring: what it looks for."""
    module = sys.modules[STRATEGIES[strategy].generate.__module__]
    return (module.__doc__ or strategy).strip().splitlines()[0]


STRATEGY_PARAMS_CONFIGS = {name: strategy_params_config(name, s.params) for name, s in STRATEGIES.items()}

StrategyParams = create_model(
    "StrategyParams", __base__=LaunchpadConfig,
    **{name: (config, Field(default_factory=config, description=strategy_summary(name))) for name, config in STRATEGY_PARAMS_CONFIGS.items()},
)
"""Every strategy's parameters, by strategy name. `resolve_params(config.params)` takes it as its
overrides: `dict()` of a pydantic model gives its fields, here each strategy's parameters as a
model that `dict()` turns into `{name: value}`."""

StrategyWeights = create_model(
    "StrategyWeights", __base__=LaunchpadConfig,
    **{name: (float, Field(default=weight, description=f"{name}'s weight in the consensus confidence (the weighted mean "
                                                          "of the agreeing strategies' confidences)."))
       for name, weight in DEFAULT_WEIGHTS.items()},
)
"""One weight per strategy, in `DEFAULT_WEIGHTS` order: setting one keeps the others' defaults."""


class StrategyConfig(LaunchpadConfig):
    params: StrategyParams = Field(  # type: ignore[valid-type]
        default_factory=StrategyParams,
        description="Each strategy's parameters, with the spec's defaults; e.g. {momentum: {min_return_20d: 0.1}}.",
    )


class ConsensusConfig(LaunchpadConfig):
    min_supporters: int = Field(default=_CONSENSUS.min_supporters, description="Agreeing strategies needed.")
    min_agreement: float = Field(default=_CONSENSUS.min_agreement, description="Majority / active strategies.")
    weights: StrategyWeights = Field(  # type: ignore[valid-type]
        default_factory=StrategyWeights, description="Strategy weights in the consensus confidence; set one, the rest keep theirs."
    )
    min_composite: float = Field(default=_CONSENSUS.min_composite, description="Composite score below which a signal is dropped.")
    high_tier: float = Field(default=_CONSENSUS.high_tier, description="Composite score for quality tier HIGH.")
    medium_tier: float = Field(default=_CONSENSUS.medium_tier, description="Composite score for quality tier MEDIUM.")
    same_day_only: bool = Field(default=False, description="Count only signals fired on D, not those still active.")

    def to_params(self) -> ConsensusParams:
        return ConsensusParams(
            min_supporters=self.min_supporters, min_agreement=self.min_agreement, weights=dict(self.weights),
            min_composite=self.min_composite, high_tier=self.high_tier, medium_tier=self.medium_tier,
            same_day_only=self.same_day_only,
        )


STRICT_ACTIVITIES = {"by_standard": None, "always": True, "never": False}
"""The launchpad's names for `ShariahSettings.strict_activities`: a typed value instead of a
null, which the launchpad's "Scaffold all default config" would leave out."""


class ShariahConfig(LaunchpadConfig):
    standard: str = Field(default=DEFAULT_STANDARD, description="SP (default), DJIM, MSCI or AAOIFI (UNKNOWN without non-permissible income).")
    admit_unknown: bool = Field(default=False, description="shariah_only also admits UNKNOWN (ratios not computable).")
    strict_activities: Literal["by_standard", "always", "never"] = Field(
        default="by_standard",
        description="Exclude hotels/cruise lines and entertainment: by_standard (only AAOIFI does), always or never.",
    )

    def to_settings(self) -> ShariahSettings:
        return ShariahSettings(standard=self.standard, admit_unknown=self.admit_unknown,
                               strict_activities=STRICT_ACTIVITIES[self.strict_activities])


def settings_metadata(settings) -> dg.MetadataValue:
    """A dataclass of settings as JSON metadata."""
    return dg.MetadataValue.json({k: (dict(v) if isinstance(v, dict) else v) for k, v in asdict(settings).items()})
