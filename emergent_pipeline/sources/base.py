"""The interface every price source implements, and what a price fetch returns."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import pandas as pd

from emergent_pipeline.core.price_update import PriceFetch

UNIVERSE_COLUMNS = ["symbol", "name", "sector", "sub_industry", "market_cap"]
__all__ = ["UNIVERSE_COLUMNS", "FundamentalsFetch", "PriceFetch", "PriceSource"]


@dataclass
class FundamentalsFetch:
    """Statements a source handed over (canonical, ``core.fundamentals.STATEMENT_COLUMNS``, each on its
    own share basis), and per symbol why it gave none."""

    statements: pd.DataFrame
    failures: dict[str, str] = field(default_factory=dict)
    requested: int = 0


class PriceSource(ABC):
    """A place prices come from.

    ``incremental`` sources (yfinance) add only the days the store lacks; the others hand over
    their whole table, which replaces the stored one.
    """

    name: str = "abstract"
    incremental: bool = False
    live: bool = False
    """A live source should have yesterday's bars; a fixed one is judged against its own newest day."""
    adjusts_splits: bool = False
    """Whether split-like jumps in its prices are adjusted by default (else they block downstream)."""
    survivorship: str = (
        "Survivorship bias: the figures describe the symbols the source was given. If that list is a present-day "
        "membership list (an index's constituents today), companies that left it before (delisted, acquired, failed) "
        "are missing, and every figure is flattered."
    )
    """What the summary must say about the universe's history, in words (the bundled panel knows its own)."""

    @abstractmethod
    def universe(self) -> pd.DataFrame:
        """One row per symbol with :data:`UNIVERSE_COLUMNS` (unknown values missing)."""

    @abstractmethod
    def fetch_prices(self, stored: pd.DataFrame) -> PriceFetch:
        """Bars for the universe; an incremental source fetches only days after ``stored``'s."""

    @abstractmethod
    def fundamentals(self, stored: pd.DataFrame | None = None) -> FundamentalsFetch:
        """Statements (possibly none); the pipeline makes them point in time. ``stored`` is what the
        store holds already, for a source that fetches only what is new."""

    @abstractmethod
    def benchmark(self) -> pd.DataFrame | None:
        """The configured index as ``date, open, high, low, close, volume``, or None when the
        source has none (the universe's equal-weight index then stands in)."""

    def index_name(self) -> str:
        """What the index :meth:`benchmark` gives is, in words (the market context names it)."""
        return "the configured index"

    def corporate_actions(self) -> pd.DataFrame | None:
        """The corporate actions the source lists (``symbol, ex_date, ratio`` as written, checked by
        ``core.corporate_actions.corporate_actions``), or None when it lists none."""
        return None

    def describe(self) -> dict[str, str]:
        """What the asset metadata says about the source."""
        return {"source": self.name}
