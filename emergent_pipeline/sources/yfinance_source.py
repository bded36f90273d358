"""Live daily bars from Yahoo Finance through the ``yfinance`` library.

Downloads go in batches, each retried with exponential backoff; a symbol that still fails is
reported (with the reason) rather than failing the whole run, and only the days the store lacks are
requested. The network call is one injectable function (``download``, default ``yfinance.download``)
so tests replay a recorded real response through the same code path.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from emergent_pipeline.core.fundamentals import empty_statements
from emergent_pipeline.core.ohlcv import OHLCV_COLUMNS, empty_ohlcv
from emergent_pipeline.sources.base import UNIVERSE_COLUMNS, FundamentalsFetch, PriceFetch, PriceSource
from emergent_pipeline.sources.bundled import BundledSource
from emergent_pipeline.sources.yfinance_fundamentals import YFinanceFundamentalsClient, universe_from_info

log = logging.getLogger(__name__)

DownloadFunction = Callable[..., pd.DataFrame | None]
YAHOO_FIELDS = {"Open": "open", "High": "high", "Low": "low", "Close": "close", "Volume": "volume", "Stock Splits": "split"}


class YahooDownloadError(RuntimeError):
    """yfinance returned nothing and logged why (it does not raise: a DNS failure is only a log line)."""


class _Collected(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage().strip())


def download_reporting_errors(download: DownloadFunction, *args: Any, **kwargs: Any) -> pd.DataFrame | None:
    """Call ``download`` (``yfinance.download`` or a replay of it) and, when it returns no price at
    all, raise the errors yfinance logged instead of handing back an empty frame: "no bars returned"
    must not hide "Could not resolve host"."""
    collector = _Collected()
    logger = logging.getLogger("yfinance")
    logger.addHandler(collector)
    try:
        data = download(*args, **kwargs)
    finally:
        logger.removeHandler(collector)
    empty = data is None or data.empty or data.isna().all().all()
    reported = [m for m in collector.messages if m and not m.endswith("Failed download:") and not m.endswith("Failed downloads:")]
    if empty and reported:
        raise YahooDownloadError("; ".join(reported)[:500])
    return data


def yfinance_download(*args: Any, **kwargs: Any) -> pd.DataFrame | None:
    """``yfinance.download``, imported on first use so the offline default never loads it."""
    import yfinance

    return yfinance.download(*args, **kwargs)


def download_to_long(data: pd.DataFrame | None, requested: Sequence[str]) -> pd.DataFrame:
    """Turn a ``yfinance.download`` frame (wide, one column block per ticker) into long OHLCV rows
    (plus ``split``, yfinance's "Stock Splits", where the download has it).

    Accepts both column layouts yfinance produces (``group_by='ticker'`` gives (Ticker, Price),
    ``'column'`` gives (Price, Ticker)) and a flat frame for a single ticker. Rows where every price
    is missing are yfinance's padding to a shared calendar, not bars, and are left out.
    """
    if data is None or data.empty:
        return empty_ohlcv()
    frame = data.copy()
    if isinstance(frame.columns, pd.MultiIndex):
        level_values = [set(map(str, frame.columns.get_level_values(i))) for i in range(frame.columns.nlevels)]
        ticker_level = next(i for i, values in enumerate(level_values) if not values & set(YAHOO_FIELDS))
        long = frame.stack(level=ticker_level, future_stack=True)
        long.index = long.index.set_names(["date", "symbol"])
        long = long.reset_index()
    else:
        if len(requested) != 1:
            raise ValueError("a flat yfinance frame can only be read for a single requested ticker")
        long = frame.rename_axis("date").reset_index()
        long["symbol"] = requested[0]
    long.columns = [str(c) for c in long.columns]
    long = long.rename(columns=YAHOO_FIELDS)
    missing = [c for c in OHLCV_COLUMNS if c not in long.columns]
    if missing:
        raise ValueError(f"yfinance returned no {missing} columns; it returned {list(long.columns)}")
    extra = ["split"] if "split" in long.columns else []
    long = long.loc[long[["open", "high", "low", "close"]].notna().any(axis=1), OHLCV_COLUMNS + extra]
    long["date"] = pd.to_datetime(long["date"])
    if long["date"].dt.tz is not None:
        long["date"] = long["date"].dt.tz_localize(None)
    return long.reset_index(drop=True)


class YFinanceClient:
    """Batched, retried calls to the download function."""

    def __init__(
        self,
        download: DownloadFunction = yfinance_download,
        batch_size: int = 50,
        max_attempts: int = 3,
        backoff_seconds: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if batch_size < 1 or max_attempts < 1:
            raise ValueError("batch_size and max_attempts must be at least 1")
        self.download = download
        self.batch_size = batch_size
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.sleep = sleep

    def fetch(self, symbols: Sequence[str], start: pd.Timestamp) -> PriceFetch:
        """Bars of ``symbols`` from ``start`` on; each symbol that yields nothing is in ``failures``."""
        frames, failures, errored = [], {}, set()
        for offset in range(0, len(symbols), self.batch_size):
            batch = list(symbols[offset : offset + self.batch_size])
            try:
                data = self._download_with_retries(batch, start)
            except Exception as error:  # noqa: BLE001 - any library error fails the batch, not the run
                failures.update({s: f"download failed after {self.max_attempts} attempts: {error!r}" for s in batch})
                errored.update(batch)
                continue
            long = download_to_long(data, batch)
            frames.append(long)
            returned = set(long["symbol"].unique())
            failures.update({s: "no bars returned" for s in batch if s not in returned})
        raw = pd.concat(frames, ignore_index=True) if frames else empty_ohlcv()
        return PriceFetch(raw=raw, failures=failures, errored=errored, requested=len(symbols))

    def _download_with_retries(self, batch: list[str], start: pd.Timestamp) -> pd.DataFrame | None:
        for attempt in range(1, self.max_attempts + 1):
            try:
                return download_reporting_errors(
                    self.download,
                    batch,
                    start=start.strftime("%Y-%m-%d"),
                    interval="1d",
                    group_by="ticker",
                    auto_adjust=False,  # split-adjusted, not dividend-adjusted, like the bundled panel
                    actions=True,  # "Stock Splits": a new split means the stored history is on the old basis
                    progress=False,
                    threads=True,
                    multi_level_index=True,
                )
            except Exception as error:  # noqa: BLE001
                if attempt == self.max_attempts:
                    raise
                wait = self.backoff_seconds * 2 ** (attempt - 1)
                log.warning("yfinance batch %s failed (attempt %d): %r; retrying in %.1fs", batch[:3], attempt, error, wait)
                self.sleep(wait)
        return None  # unreachable: the loop returns or raises


class YFinanceSource(PriceSource):
    """yfinance prices, statements and ``info`` for a list of symbols (US tickers; NSE with ``.NS``).

    Sector and name come from the bundled universe (GICS) where the symbol is in it, else from
    ``info`` (Yahoo's own sector and industry). Statements are fetched again for a symbol once its
    last fetch is ``fundamentals_refresh_days`` old (they change once a quarter).
    """

    name = "yfinance"
    incremental = True
    live = True

    def __init__(
        self,
        symbols: Sequence[str],
        history_start: str = "2013-01-01",
        benchmark_symbol: str | None = "^GSPC",
        client: YFinanceClient | None = None,
        today: pd.Timestamp | None = None,
        fundamentals_client: YFinanceFundamentalsClient | None = None,
        fundamentals_refresh_days: int = 7,
    ) -> None:
        self.symbols = [s.strip().upper() for s in symbols if s.strip()]
        if not self.symbols:
            raise ValueError("the yfinance source needs at least one symbol")
        self.history_start = pd.Timestamp(history_start)
        self.benchmark_symbol = benchmark_symbol
        self.client = client or YFinanceClient()
        self.today = pd.Timestamp(today or pd.Timestamp.today()).normalize()
        self.fundamentals_client = fundamentals_client or YFinanceFundamentalsClient(today=self.today)
        self.fundamentals_refresh_days = fundamentals_refresh_days

    def universe(self) -> pd.DataFrame:
        known = BundledSource().universe()
        members = pd.DataFrame({"symbol": self.symbols}).merge(known, on="symbol", how="left")
        unknown = members.loc[members["name"].isna(), "symbol"].tolist()
        looked_up = [(s, self.fundamentals_client.data(s)) for s in unknown]
        rows = [universe_from_info(s, data.get("info") or {}) for s, data in looked_up if isinstance(data, dict)]
        if rows:
            members = pd.concat([members[~members["symbol"].isin([r["symbol"] for r in rows])], pd.DataFrame(rows)], ignore_index=True)
        return members[UNIVERSE_COLUMNS]

    def fetch_prices(self, stored: pd.DataFrame) -> PriceFetch:
        """Download, per group of symbols with the same newest stored day, the days after it. A symbol
        whose new days include a split is downloaded again from ``history_start``: yfinance adjusts
        the whole history to the new basis, and the stored days are on the old one."""
        last = stored.groupby("symbol")["date"].max() if not stored.empty else pd.Series(dtype="datetime64[ns]")
        start = pd.Series(self.history_start, index=self.symbols)
        start.update(last.reindex(self.symbols).dropna() + pd.Timedelta(days=1))
        due = start[start.to_numpy() <= np.datetime64(self.today)]
        fetches = [self.client.fetch(list(group.index), day) for day, group in due.groupby(due)]
        raw = pd.concat([f.raw for f in fetches], ignore_index=True) if fetches else empty_ohlcv()
        failures = {s: why for f in fetches for s, why in f.failures.items()}
        errored = {s for f in fetches for s in f.errored}
        if not raw.empty:  # a provider may send a bar we already hold again; only new days count
            raw = raw.loc[raw["date"].to_numpy() >= start.reindex(raw["symbol"]).to_numpy()]
        split = raw["split"].fillna(0.0) if "split" in raw.columns else pd.Series(0.0, index=raw.index)
        resplit = sorted(set(raw.loc[(split > 0) & (split != 1) & raw["symbol"].isin(last.index), "symbol"]))
        if resplit:
            whole = self.client.fetch(resplit, self.history_start)
            raw = pd.concat([raw[~raw["symbol"].isin(resplit)], whole.raw], ignore_index=True)
            failures.update(whole.failures)
        return PriceFetch(raw=raw[OHLCV_COLUMNS].reset_index(drop=True), failures=failures, errored=errored, requested=len(due),
                          replaced=set(resplit) - set(whole.failures) if resplit else set())

    def fundamentals(self, stored: pd.DataFrame | None = None) -> FundamentalsFetch:
        """Statements of the symbols not fetched in the last ``fundamentals_refresh_days`` days (the
        date of a symbol's newest stored ``info`` snapshot is when it was last fetched)."""
        due = list(self.symbols)
        if stored is not None and len(stored):
            fetched = stored[stored["kind"] == "snapshot"].groupby("symbol")["filed"].max()
            fresh = fetched[pd.to_datetime(fetched) > self.today - pd.Timedelta(days=self.fundamentals_refresh_days)]
            due = [s for s in self.symbols if s not in fresh.index]
        if not due:
            return FundamentalsFetch(empty_statements(), requested=0)
        return self.fundamentals_client.fetch(due)

    def index_name(self) -> str:
        return f"{self.benchmark_symbol} (Yahoo Finance)"

    def benchmark(self) -> pd.DataFrame | None:
        if not self.benchmark_symbol:
            return None
        fetch = self.client.fetch([self.benchmark_symbol], self.history_start)
        if fetch.raw.empty:
            raise YahooDownloadError(f"benchmark {self.benchmark_symbol} could not be downloaded: {fetch.failures}")
        return fetch.raw[OHLCV_COLUMNS].drop(columns="symbol")

    def describe(self) -> dict[str, str]:
        return {
            "source": self.name,
            "symbols": str(len(self.symbols)),
            "benchmark": str(self.benchmark_symbol or "equal-weight index of the universe"),
        }
