"""Which price source the pipeline reads, chosen by configuration."""

from __future__ import annotations

from typing import Literal

import dagster as dg
from pydantic import Field

from emergent_pipeline.sources.base import PriceSource
from emergent_pipeline.sources.bundled import BundledSource
from emergent_pipeline.sources.file import FileSource
from emergent_pipeline.sources.yfinance_fundamentals import YFinanceFundamentalsClient, yfinance_ticker_data
from emergent_pipeline.sources.yfinance_source import YFinanceClient, YFinanceSource, yfinance_download


class PriceSourceResource(dg.ConfigurableResource):
    """`bundled` (default, offline), `yfinance` (live, incremental) or `file` (CSV/Parquet).

    All three yield the same long OHLCV table; see README "Data sources" for examples.

    Empty defaults are written as values (`[]`, `{}`, `""`), not factories or null: Dagster's
    config schema has no default for a factory, and its "Scaffold all default config" leaves out
    nulls, so either would hide the field from the launchpad.
    """

    kind: Literal["bundled", "yfinance", "file"] = Field(default="bundled", description="Where prices come from.")
    symbols: list[str] = Field(
        default=[],
        description="yfinance: tickers to download (NSE with the .NS suffix); empty means the bundled universe.",
    )
    history_start: str = Field(default="2013-01-01", description="yfinance: first day for a symbol with no history.")
    benchmark_symbol: str | None = Field(
        default="^GSPC", description="yfinance: index for market context (^NSEI for NSE); null for equal-weight."
    )
    batch_size: int = Field(default=50, description="yfinance: tickers per download call.")
    max_attempts: int = Field(default=3, description="yfinance: tries per batch before its symbols count as failed.")
    backoff_seconds: float = Field(default=2.0, description="yfinance: first wait between tries, doubled each time.")
    path: str | None = Field(default="", description="file: the CSV or Parquet file of daily bars (required for kind file).")
    column_map: dict[str, str] = Field(
        default={}, description="file: the file's column names mapped onto symbol, date, open, ... (empty: the names are ours)."
    )
    universe_path: str | None = Field(
        default=None, description="file: optional universe table (symbol, name, sector, sub_industry; NSE industries too)."
    )
    universe_column_map: dict[str, str] = Field(
        default_factory=dict, description="file: the universe file's column names mapped onto symbol, name, sector, sub_industry."
    )
    fundamentals_path: str | None = Field(
        default=None, description="file: optional statements (symbol, period_end and/or filed, total_debt, ...); see README."
    )
    fundamentals_column_map: dict[str, str] = Field(
        default_factory=dict, description="file: the statements file's column names mapped onto ours."
    )
    benchmark_path: str | None = Field(default=None, description="file: optional index file (date, close, ...).")
    corporate_actions_path: str | None = Field(
        default=None, description="file: optional corporate actions (symbol, ex_date, ratio = shares after per share before, "
        "e.g. 2 or 4:3), applied as given before the rule looks for others.",
    )
    fundamentals_refresh_days: int = Field(
        default=7, description="yfinance: fetch a symbol's statements again once its last fetch is this many days old."
    )
    adjust_splits: bool | None = Field(
        default=None,
        description="Adjust split-like jumps (close and open gap both near a usual split ratio, index calm) instead of "
        "blocking downstream on them; null = the source's default (bundled: adjust its known DISCA/DISCK 2014 split; "
        "yfinance and files: block).",
    )
    stale_after_business_days: int = Field(
        default=3, description="A symbol whose newest bar is older than this (in business days) is stale."
    )

    def build(self) -> PriceSource:
        """The configured source, ready to fetch."""
        if self.kind == "bundled":
            return BundledSource()
        if self.kind == "file":
            if not self.path:
                raise dg.Failure(description="price_source.kind is 'file' but no path is configured: set price_source.config.path")
            return FileSource(
                self.path, self.column_map, self.universe_path, self.benchmark_path, self.universe_column_map,
                self.fundamentals_path, self.fundamentals_column_map, self.corporate_actions_path,
            )
        symbols = self.symbols or BundledSource().universe()["symbol"].tolist()
        client = YFinanceClient(
            download=self.download_function(),
            batch_size=self.batch_size,
            max_attempts=self.max_attempts,
            backoff_seconds=self.backoff_seconds,
        )
        return YFinanceSource(
            symbols, self.history_start, self.benchmark_symbol, client=client,
            fundamentals_client=YFinanceFundamentalsClient(self.ticker_data_function()),
            fundamentals_refresh_days=self.fundamentals_refresh_days,
        )

    @property
    def survivorship(self) -> str:
        """The survivorship caveat of the configured kind of source (its class says it; nothing is fetched)."""
        return {"bundled": BundledSource, "file": FileSource, "yfinance": YFinanceSource}[self.kind].survivorship

    def adjusts_splits(self, source: PriceSource) -> bool:
        """Whether split-like jumps are adjusted: as configured, else the source's own default."""
        return source.adjusts_splits if self.adjust_splits is None else self.adjust_splits

    @property
    def has_index(self) -> bool:
        """Whether a real index is configured; without one the universe's equal-weight index stands in,
        which moves with the very symbols it is compared to."""
        if self.kind == "bundled":
            return True
        return (self.benchmark_symbol if self.kind == "yfinance" else self.benchmark_path) is not None

    def download_function(self):
        """The network call for prices; tests replace only this, with a replay of a recorded response."""
        return yfinance_download

    def ticker_data_function(self):
        """The network call for statements and `info`; tests replace it with recorded responses."""
        return yfinance_ticker_data
