"""Company statements and the ``info`` snapshot from Yahoo Finance (``yfinance.Ticker``), in the
canonical shape of ``core.fundamentals``.

yfinance returns each statement as a frame with one row per line item and one column per period end
(newest first), annual and quarterly: the balance sheet (``Total Debt``, ``Cash And Cash
Equivalents``, ``Other Short Term Investments``, ``Accounts Receivable``, ``Total Assets``,
``Stockholders Equity``, ``Ordinary Shares Number``) and the income statement (``Total Revenue``,
``Net Income Common Stockholders``, ``EBITDA``, ``Basic EPS``). A quarterly income item is summed
over the four quarters to its period end (a trailing twelve months, as the annual items are); with
fewer than four consecutive quarters it stays missing and the annual statement speaks for it.
``info`` becomes a snapshot dated the day it was fetched (its share count is on the basis of
today's split-adjusted prices, which is what the share-basis alignment needs).

The network call is one injectable function (``ticker_data``), so that tests replay recorded real
responses through the same code path.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from emergent_pipeline.core.fundamentals import canonical, empty_statements
from emergent_pipeline.sources.base import FundamentalsFetch

log = logging.getLogger(__name__)

STATEMENT_FRAMES = ("balance_sheet", "quarterly_balance_sheet", "income_stmt", "quarterly_income_stmt")
TickerData = dict[str, Any]
"""``info`` (a dict) and the four statement frames, by the yfinance attribute names."""

# Canonical field -> Yahoo line items, first present wins (bank layouts lack some of them).
BALANCE_ITEMS = {
    "total_debt": ["Total Debt"],
    "cash": ["Cash And Cash Equivalents", "Cash Cash Equivalents And Federal Funds Sold", "Cash Financial"],
    "short_term_investments": ["Other Short Term Investments"],
    "receivables": ["Accounts Receivable", "Receivables"],
    "total_assets": ["Total Assets"],
    "total_equity": ["Stockholders Equity", "Common Stock Equity"],
    "shares": ["Ordinary Shares Number", "Share Issued"],
}
INCOME_ITEMS = {
    "revenue": ["Total Revenue", "Operating Revenue"],
    "net_income": ["Net Income Common Stockholders", "Net Income"],
    "ebitda": ["EBITDA", "Normalized EBITDA"],
    "eps": ["Basic EPS", "Diluted EPS"],
}


def yfinance_ticker_data(symbol: str) -> TickerData:
    """The network call: ``info`` and the four statement frames of one ticker."""
    import yfinance

    ticker = yfinance.Ticker(symbol)
    return {"info": ticker.info, **{name: getattr(ticker, name) for name in STATEMENT_FRAMES}}


def _items(frame: pd.DataFrame | None, items: Mapping[str, list[str]]) -> pd.DataFrame:
    """One row per period end (ascending), one column per canonical field, from a Yahoo statement."""
    if frame is None or not isinstance(frame, pd.DataFrame) or frame.empty:
        return pd.DataFrame(columns=list(items), index=pd.DatetimeIndex([], name="period_end"), dtype="float64")
    wide = frame.copy()
    wide.index = wide.index.astype(str)
    wide.columns = pd.to_datetime(wide.columns, errors="coerce")
    wide = wide.loc[:, wide.columns.notna()]
    out = {}
    for field, names in items.items():
        present = [n for n in names if n in wide.index]
        values = pd.Series(np.nan, index=wide.columns, dtype="float64")
        for name in present:  # first present line item wins, per period
            values = values.fillna(pd.to_numeric(wide.loc[name], errors="coerce").astype("float64"))
        out[field] = values
    return pd.DataFrame(out).sort_index().rename_axis("period_end")


def _trailing_year(quarters: pd.DataFrame) -> pd.DataFrame:
    """Each quarterly income item summed over the four quarters ending at its period end, where those
    four are present and span about a year (else missing)."""
    if quarters.empty:
        return quarters
    ends = pd.Series(quarters.index, index=quarters.index)
    spans_year = (ends - ends.shift(3)).dt.days.between(250, 300)
    summed = quarters.rolling(4, min_periods=4).sum()
    return summed.where(spans_year, np.nan)


def statements_from_yahoo(symbol: str, data: TickerData, fetched_on: pd.Timestamp) -> pd.DataFrame:
    """Canonical statements of one symbol from its yfinance data (annual, quarterly, and the ``info``
    snapshot dated ``fetched_on``); empty when Yahoo had none."""
    frames = []
    for kind, balance_name, income_name in (("annual", "balance_sheet", "income_stmt"),
                                            ("quarterly", "quarterly_balance_sheet", "quarterly_income_stmt")):
        balance = _items(data.get(balance_name), BALANCE_ITEMS)
        income = _items(data.get(income_name), INCOME_ITEMS)
        if kind == "quarterly":
            income = _trailing_year(income)
        both = balance.join(income, how="outer")
        if both.empty:
            continue
        both["total_cash"] = both["cash"] + both["short_term_investments"].fillna(0.0)
        frames.append(both.drop(columns=["cash", "short_term_investments"]).reset_index().assign(kind=kind))
    info = data.get("info") or {}
    if info.get("sharesOutstanding") or info.get("marketCap"):
        number = lambda key: float(info[key]) if isinstance(info.get(key), (int, float)) else np.nan  # noqa: E731
        shares = number("sharesOutstanding")
        frames.append(pd.DataFrame([{
            "kind": "snapshot", "period_end": fetched_on, "filed": fetched_on, "eps": number("trailingEps"), "shares": shares,
            "revenue": number("totalRevenue"), "net_income": number("netIncomeToCommon"), "ebitda": number("ebitda"),
            "total_debt": number("totalDebt"), "total_cash": number("totalCash"), "total_equity": number("bookValue") * shares,
        }]))
    if not frames:
        return empty_statements()
    statements = pd.concat(frames, ignore_index=True).assign(symbol=symbol)
    useful = statements.drop(columns=["symbol", "kind", "period_end", "filed"], errors="ignore").notna().any(axis=1)
    return canonical(statements[useful])


def universe_from_info(symbol: str, info: Mapping[str, Any]) -> dict:
    """A universe row from ``info``: Yahoo's own sector and industry (mapped by ``core.activity``)."""
    return {"symbol": symbol, "name": info.get("longName") or info.get("shortName"), "sector": info.get("sector"),
            "sub_industry": info.get("industry"), "market_cap": info.get("marketCap")}


class YFinanceFundamentalsClient:
    """Fetches ticker data symbol by symbol, remembering it for the rest of the run; a symbol whose
    call raises, or that has no statement at all, is reported with the reason and does not stop the others."""

    def __init__(self, ticker_data: Callable[[str], TickerData] = yfinance_ticker_data, today: pd.Timestamp | None = None):
        self.ticker_data = ticker_data
        self.today = pd.Timestamp(today or pd.Timestamp.today()).normalize()
        self.cache: dict[str, TickerData | Exception] = {}

    def data(self, symbol: str) -> TickerData | Exception:
        if symbol not in self.cache:
            try:
                self.cache[symbol] = self.ticker_data(symbol)
            except Exception as error:  # noqa: BLE001 - one ticker's failure is reported, not fatal
                log.warning("yfinance statements of %s failed: %r", symbol, error)
                self.cache[symbol] = error
        return self.cache[symbol]

    def fetch(self, symbols: list[str]) -> FundamentalsFetch:
        frames, failures = [], {}
        for symbol in symbols:  # one HTTP round trip per symbol: a loop around the library call
            data = self.data(symbol)
            if isinstance(data, Exception):
                failures[symbol] = f"statements download failed: {data!r}"[:300]
                continue
            statements = statements_from_yahoo(symbol, data, self.today)
            if statements.empty:
                failures[symbol] = "Yahoo returned no statements and no share count"
            frames.append(statements)
        statements = canonical(pd.concat(frames, ignore_index=True)) if frames else empty_statements()
        return FundamentalsFetch(statements, failures, requested=len(symbols))
