"""Trading costs: the one cost setting of labels, outcomes, the expected-return model and the summary.

Costs are basis points paid on each side of a trade, at entry and at exit; a round trip pays twice.
The labels are computed with the setting (`signal_labels`' config) and record it in every row
(``cost_bps_per_side``); everything downstream reads it from there (:func:`recorded_costs`), so a
model or a summary can never use other costs than the labels it reads, and a table that records
none is an error, not a silent default.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

COST_COLUMN = "cost_bps_per_side"


class CostsUnknownError(ValueError):
    """A table that should record the costs its labels were computed with records none, or several."""


@dataclass(frozen=True)
class TradingCosts:
    bps_per_side: float = 10.0
    """Basis points paid at entry and again at exit (10 = 0.10 % each way)."""

    def __post_init__(self) -> None:
        if not math.isfinite(self.bps_per_side) or self.bps_per_side < 0:
            raise ValueError(f"costs must be a finite, non-negative number of basis points per side, not {self.bps_per_side}")

    @property
    def per_side(self) -> float:
        """The cost of one side as a fraction of the price."""
        return self.bps_per_side / 10_000.0

    @property
    def round_trip(self) -> float:
        """The cost of entering and leaving, as a fraction: twice :attr:`per_side`."""
        return 2.0 * self.per_side


DEFAULT_COSTS = TradingCosts()


def recorded_costs(table: pd.DataFrame, what: str = "signal_labels") -> TradingCosts:
    """The costs ``table`` records in its ``cost_bps_per_side`` column (rows from ``what``): exactly one
    value, else :class:`CostsUnknownError` naming the remedy."""
    values = sorted(table[COST_COLUMN].dropna().unique()) if COST_COLUMN in table else []
    if not values:
        raise CostsUnknownError(f"{what} records no trading costs ({COST_COLUMN}): materialize signal_labels first")
    if len(values) > 1:
        raise CostsUnknownError(f"{what} mixes labels computed with different costs ({', '.join(f'{v:g}' for v in values)} bps per side): "
                                "materialize signal_labels again")
    return TradingCosts(float(values[0]))
