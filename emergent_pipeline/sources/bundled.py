"""The bundled real S&P 500 panel: 505 symbols, 2013-02-08 to 2018-02-07, shipped in the package so
that everything runs offline on a fresh machine. Provenance and quirks: ``emergent_pipeline/data/README.md``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from emergent_pipeline.core.ohlcv import validate_ohlcv
from emergent_pipeline.sources.base import UNIVERSE_COLUMNS, PriceFetch, PriceSource

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
PRICES_FILE = DATA_DIR / "sp500_ohlcv_2013_2018.parquet"
UNIVERSE_FILE = DATA_DIR / "sp500_universe_2018.csv"
FUNDAMENTALS_FILE = DATA_DIR / "sp500_fundamentals_2018-02-08.csv"
INDEX_FILE = DATA_DIR / "sp500_index_2010_2018.csv"

FUNDAMENTALS_COLUMNS = {
    "price": "price",
    "price_earnings": "pe_ratio",
    "dividend_yield": "dividend_yield_pct",
    "earnings_share": "eps",
    # The source file has the two 52-week columns swapped (its "low" is above its "high");
    # mapping each onto the other's name puts them right.
    "52_week_low": "week52_high",
    "52_week_high": "week52_low",
    "market_cap": "market_cap",
    "ebitda": "ebitda",
    "price_sales": "price_sales",
    "price_book": "price_book",
}


def load_bundled_fundamentals() -> pd.DataFrame:
    """The 2018-02-08 snapshot with project column names; ``as_of`` is when it became known."""
    raw = pd.read_csv(FUNDAMENTALS_FILE, parse_dates=["as_of"])
    frame = raw.rename(columns=FUNDAMENTALS_COLUMNS)
    return frame[["symbol", "as_of", *FUNDAMENTALS_COLUMNS.values()]]


class BundledSource(PriceSource):
    """The default source; the whole panel replaces the stored table on each run."""

    name = "bundled"

    def universe(self) -> pd.DataFrame:
        members = pd.read_csv(UNIVERSE_FILE)
        caps = pd.read_csv(FUNDAMENTALS_FILE, usecols=["symbol", "market_cap"])
        return members.merge(caps, on="symbol", how="left")[UNIVERSE_COLUMNS]

    def fetch_prices(self, stored: pd.DataFrame) -> PriceFetch:
        raw = pd.read_parquet(PRICES_FILE)
        return PriceFetch(raw=raw, requested=raw["symbol"].nunique())

    def fundamentals(self) -> pd.DataFrame:
        return load_bundled_fundamentals()

    def benchmark(self) -> pd.DataFrame:
        index = pd.read_csv(INDEX_FILE, parse_dates=["date"])
        return index[["date", "open", "high", "low", "close", "volume"]]

    def describe(self) -> dict[str, str]:
        return {"source": self.name, "benchmark": "S&P 500 index (bundled)", "path": str(PRICES_FILE)}


def load_bundled_inputs() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The bundled panel as the core functions take it, without DuckDB or Dagster: validated
    prices (the same row rules as ``price_history``), universe, fundamentals and the index.
    For benchmarks and tests of the core."""
    source = BundledSource()
    prices = validate_ohlcv(source.fetch_prices(pd.DataFrame()).raw).accepted
    return prices, source.universe(), source.fundamentals(), source.benchmark()
