"""The bundled real S&P 500 panel: 505 symbols, 2013-02-08 to 2018-02-07, with the annual statements
of fiscal 2012-2016 and a 2018-02-08 valuation snapshot, shipped in the package so that everything
runs offline on a fresh machine. Provenance and quirks: ``emergent_pipeline/data/README.md``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from emergent_pipeline.core.fundamentals import canonical, point_in_time, statements_from_snapshot
from emergent_pipeline.core.ohlcv import validate_ohlcv
from emergent_pipeline.sources.base import UNIVERSE_COLUMNS, FundamentalsFetch, PriceFetch, PriceSource

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
PRICES_FILE = DATA_DIR / "sp500_ohlcv_2013_2018.parquet"
UNIVERSE_FILE = DATA_DIR / "sp500_universe_2018.csv"
FUNDAMENTALS_FILE = DATA_DIR / "sp500_fundamentals_2018-02-08.csv"
INDEX_FILE = DATA_DIR / "sp500_index_1999_2018.csv"
ANNUAL_FILE = DATA_DIR / "sp500_fundamentals_annual_2012_2016.csv"
ACTIONS_FILE = DATA_DIR / "corporate_actions.csv"
"""The panel's one unadjusted corporate action: Discovery's share dividend of 2014-08-07 (DISCA, DISCK)."""

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


def load_annual_statements() -> pd.DataFrame:
    """The annual statements in the canonical shape (``core.fundamentals``), on their own share basis.

    Debt is long-term plus short-term debt, cash is cash plus short-term investments (the
    interest-bearing part of the balance sheet), EBITDA is EBIT plus depreciation, net income is
    the part applicable to common shareholders. The file has no share count of its own (its
    "Estimated Shares Outstanding" is net income / EPS): shares are that ratio, recomputed with net
    income to common, where both have the same sign. The file has no filing date: availability
    comes from the filing lag."""
    raw = pd.read_csv(ANNUAL_FILE, index_col=0)
    number = lambda column: pd.to_numeric(raw[column], errors="coerce")  # noqa: E731
    net_income = number("Net Income Applicable to Common Shareholders").fillna(number("Net Income"))
    eps = number("Earnings Per Share")
    with np.errstate(divide="ignore", invalid="ignore"):
        shares = (net_income / eps).where(eps.abs() >= 0.01)
    statements = pd.DataFrame({
        "symbol": raw["Ticker Symbol"], "kind": "annual", "period_end": raw["Period Ending"],
        "revenue": number("Total Revenue"), "net_income": net_income,
        "ebitda": number("Earnings Before Interest and Tax") + number("Depreciation"),
        "eps": eps, "shares": shares.where(shares > 0),
        "total_debt": number("Long-Term Debt") + number("Short-Term Debt / Current Portion of Long-Term Debt"),
        "total_cash": number("Cash and Cash Equivalents") + number("Short-Term Investments"),
        "receivables": number("Net Receivables"), "total_assets": number("Total Assets"),
        "total_equity": number("Total Equity"),
    })
    return canonical(statements)


def load_bundled_statements() -> pd.DataFrame:
    """Every bundled statement, canonical: the annual ones and the 2018-02-08 snapshot."""
    return canonical(pd.concat([load_annual_statements(), statements_from_snapshot(load_bundled_fundamentals())], ignore_index=True))


class BundledSource(PriceSource):
    """The default source; the whole panel replaces the stored table on each run."""

    name = "bundled"
    survivorship = (
        "Survivorship bias: the universe is a later index membership list (the S&P 500 of February 2018), "
        "so stocks that fell out of the index before then are missing and every figure here is flattered."
    )
    # Its one split-like jump is real and known: Discovery's 2-for-1 share dividend of 2014-08-07
    # (DISCA, DISCK), which the source did not adjust. It is listed in the panel's corporate-actions
    # file; the pipeline adjusts it and says so, and the rule looks for any other.
    adjusts_splits = True

    def corporate_actions(self) -> pd.DataFrame:
        return pd.read_csv(ACTIONS_FILE)

    def universe(self) -> pd.DataFrame:
        members = pd.read_csv(UNIVERSE_FILE)
        caps = pd.read_csv(FUNDAMENTALS_FILE, usecols=["symbol", "market_cap"])
        return members.merge(caps, on="symbol", how="left")[UNIVERSE_COLUMNS]

    def fetch_prices(self, stored: pd.DataFrame) -> PriceFetch:
        raw = pd.read_parquet(PRICES_FILE)
        return PriceFetch(raw=raw, requested=raw["symbol"].nunique())

    def fundamentals(self, stored: pd.DataFrame | None = None) -> FundamentalsFetch:
        """The statements of the universe's symbols (the annual file also covers 25 companies the
        2018 universe no longer holds)."""
        statements = load_bundled_statements()
        statements = statements[statements["symbol"].isin(self.universe()["symbol"])].reset_index(drop=True)
        return FundamentalsFetch(statements, requested=statements["symbol"].nunique())

    def index_name(self) -> str:
        return "the S&P 500 index"

    def benchmark(self) -> pd.DataFrame:
        index = pd.read_csv(INDEX_FILE, parse_dates=["date"])
        return index[["date", "open", "high", "low", "close", "volume"]]

    def describe(self) -> dict[str, str]:
        # named inside the package: the same wherever the project is installed, and short enough for the UI
        return {"source": self.name, "benchmark": "S&P 500 index (bundled)", "path": str(PRICES_FILE.relative_to(DATA_DIR.parents[1]))}


def load_bundled_inputs() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The bundled panel as the core functions take it, without DuckDB or Dagster: validated
    prices (the same row rules as ``price_history``), universe, point-in-time fundamentals (default
    availability) and the index. For benchmarks and tests of the core."""
    source = BundledSource()
    prices = validate_ohlcv(source.fetch_prices(pd.DataFrame()).raw).accepted
    return prices, source.universe(), point_in_time(source.fundamentals().statements)[0], source.benchmark()
