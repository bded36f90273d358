"""Replays a recorded real ``yfinance.download`` response in place of the network.

``fixtures/yfinance/stock_prices.csv`` is what ``yf.download(["AAPL", "TSLA", "GOOGL"], ...)``
returned and was saved with ``to_csv`` (see PROVENANCE.md there). The replay answers a download
call the way yfinance assembles its result: one column block per requested ticker, all-missing
columns for a ticker it could not get, rows from ``start`` on, and the column order asked for by
``group_by``. Only the network is replaced; the adapter's code path is the real one.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

RECORDED = Path(__file__).parent / "fixtures" / "yfinance" / "stock_prices.csv"
RECORDED_TICKERS = ("AAPL", "GOOGL", "TSLA")


def load_recorded() -> pd.DataFrame:
    """The recorded frame, columns (Price, Ticker) as ``group_by='column'`` gives them."""
    return pd.read_csv(RECORDED, header=[0, 1], index_col=0, parse_dates=True)


class RecordedDownload:
    """A ``download(tickers, start=..., group_by=..., ...)`` callable that replays the recording.

    ``until`` cuts the recording as if it had been made on that day; ``fail_times`` raises that many
    times first (as a network error would); ``calls`` records each call's tickers and start.
    """

    def __init__(self, until: str | None = None, fail_times: int = 0, error: Exception | None = None, empty: bool = False):
        self.recorded = load_recorded()
        if until is not None:
            self.recorded = self.recorded.loc[:until]
        self.fail_times = fail_times
        self.error = error or ConnectionError("Failed to perform, curl: (6) Could not resolve host: query2.finance.yahoo.com")
        self.empty = empty
        self.calls: list[dict] = []

    def __call__(self, tickers, start=None, group_by="column", **kwargs) -> pd.DataFrame:
        self.calls.append({"tickers": list(tickers), "start": start, **kwargs})
        if self.fail_times > 0:
            self.fail_times -= 1
            raise self.error
        if self.empty:
            return pd.DataFrame()
        rows = self.recorded.loc[start:] if start else self.recorded
        blocks = {}
        for ticker in tickers:
            if ticker in RECORDED_TICKERS:
                blocks[ticker] = rows.xs(ticker, axis=1, level="Ticker")
            else:  # yfinance keeps a failed ticker as all-missing columns
                blocks[ticker] = pd.DataFrame(index=rows.index, columns=rows.columns.get_level_values(0).unique(), dtype=float)
        data = pd.concat(blocks.values(), axis=1, keys=blocks.keys(), names=["Ticker", "Price"])
        if group_by == "column":
            data = data.swaplevel(0, 1, axis=1).sort_index(axis=1, level=0)
        return data
