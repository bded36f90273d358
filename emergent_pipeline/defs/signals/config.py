"""Run config of the signal assets: every threshold, weight and policy, with the spec's defaults.

Shown in the launchpad of the Dagster UI; the effective values are echoed in each asset's metadata.
"""

from dataclasses import asdict

import dagster as dg
from pydantic import Field

from emergent_pipeline.core.consensus import DEFAULT_WEIGHTS, ConsensusParams
from emergent_pipeline.core.shariah import DEFAULT_STANDARD, ShariahSettings

_CONSENSUS = ConsensusParams()


class StrategyConfig(dg.Config):
    params: dict[str, dict[str, float]] = Field(
        default_factory=dict,
        description="Per-strategy parameter overrides, e.g. {momentum: {min_return_20d: 0.1}}; defaults are the spec's.",
    )


class ConsensusConfig(dg.Config):
    min_supporters: int = Field(default=_CONSENSUS.min_supporters, description="Agreeing strategies needed.")
    min_agreement: float = Field(default=_CONSENSUS.min_agreement, description="Majority / active strategies.")
    weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_WEIGHTS), description="Strategy weights.")
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


class ShariahConfig(dg.Config):
    standard: str = Field(default=DEFAULT_STANDARD, description="SP (default), DJIM, MSCI or AAOIFI (UNKNOWN without non-permissible income).")
    admit_unknown: bool = Field(default=False, description="shariah_only also admits UNKNOWN (ratios not computable).")
    strict_activities: bool | None = Field(
        default=None, description="Exclude hotels/cruise lines and entertainment; null = by standard (AAOIFI strict)."
    )

    def to_settings(self) -> ShariahSettings:
        return ShariahSettings(standard=self.standard, admit_unknown=self.admit_unknown, strict_activities=self.strict_activities)


def settings_metadata(settings) -> dg.MetadataValue:
    """A dataclass of settings as JSON metadata."""
    return dg.MetadataValue.json({k: (dict(v) if isinstance(v, dict) else v) for k, v in asdict(settings).items()})
