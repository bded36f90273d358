"""Replays recorded real yfinance ``Ticker`` data (``info`` and the statement frames) in place of the network.

The files in ``fixtures/yfinance_fundamentals/`` are what yfinance returned, saved by their authors
with ``to_csv`` / ``to_parquet`` / ``json.dump`` (provenance in PROVENANCE.md there). The replay reads
each back into the frame yfinance hands over (line items as rows, period ends as columns) and
answers ``ticker_data(symbol)`` the way ``sources.yfinance_fundamentals.yfinance_ticker_data`` does.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

FIXTURES = Path(__file__).parent / "fixtures" / "yfinance_fundamentals"


def wide(name: str) -> pd.DataFrame:
    """A statement saved with ``to_csv``: line items as rows, period ends as columns."""
    frame = pd.read_csv(FIXTURES / name, index_col=0)
    frame.columns = pd.to_datetime(frame.columns)
    return frame


def long_to_wide(name: str) -> pd.DataFrame:
    """A statement that its author melted to ``symbol, statement_type, period_end, line_item, value``."""
    frame = pd.read_csv(FIXTURES / name)
    table = frame.pivot(index="line_item", columns="period_end", values="value")
    table.columns = pd.to_datetime(table.columns)
    return table


def info_from_csv(name: str) -> dict:
    row = pd.read_csv(FIXTURES / name).iloc[0]
    return {k: (None if pd.isna(v) else v.item() if hasattr(v, "item") else v) for k, v in row.items()}


RECORDED = {
    "AAPL": lambda: {
        "info": json.loads((FIXTURES / "AAPL_info.json").read_text()),
        "balance_sheet": pd.read_parquet(FIXTURES / "AAPL_balance_sheet.parquet"),
        "income_stmt": pd.read_parquet(FIXTURES / "AAPL_income_stmt.parquet"),
        "quarterly_balance_sheet": wide("AAPL_quarterly_balance_sheet.csv"),
        "quarterly_income_stmt": wide("AAPL_quarterly_financials.csv"),
    },
    "RELIANCE.NS": lambda: {
        "info": info_from_csv("RELIANCE.NS_info.csv"),
        "balance_sheet": long_to_wide("RELIANCE.NS_balance_sheet_long.csv"),
        "income_stmt": long_to_wide("RELIANCE.NS_income_stmt_long.csv"),
        "quarterly_balance_sheet": wide("RELIANCE.NS_quarterly_balance_sheet.csv"),
        "quarterly_income_stmt": wide("RELIANCE.NS_quarterly_financials.csv"),
    },
    "HDFCBANK.NS": lambda: {
        "info": {},
        "balance_sheet": pd.DataFrame(), "income_stmt": pd.DataFrame(),
        "quarterly_balance_sheet": wide("HDFCBANK.NS_quarterly_balance_sheet.csv"),
        "quarterly_income_stmt": wide("HDFCBANK.NS_quarterly_financials.csv"),
    },
    # A government bond listed on NSE: yfinance gave {'trailingPegRatio': None} and empty statements.
    "563GS2026.NS": lambda: {
        "info": {"trailingPegRatio": None},
        **{name: pd.DataFrame() for name in ("balance_sheet", "income_stmt", "quarterly_balance_sheet", "quarterly_income_stmt")},
    },
}


class RecordedTickers:
    """``ticker_data(symbol)`` from the recordings; a symbol not recorded raises as a failed HTTP call would."""

    def __init__(self):
        self.calls: list[str] = []

    def __call__(self, symbol: str) -> dict:
        self.calls.append(symbol)
        if symbol not in RECORDED:
            raise ConnectionError(f"Failed to perform, curl: (6) Could not resolve host: query2.finance.yahoo.com ({symbol})")
        return RECORDED[symbol]()
