"""The bundled real data as the core functions take it, loaded once per test session."""

from __future__ import annotations

from functools import lru_cache

import pandas as pd

from emergent_pipeline.sources.bundled import load_bundled_inputs


@lru_cache(maxsize=1)
def bundled() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    return load_bundled_inputs()


STATEMENT_MAP = {
    "Ticker Symbol": "symbol", "Period Ending": "period_end", "Total Revenue": "revenue",
    "Net Income Applicable to Common Shareholders": "net_income", "Earnings Per Share": "eps",
    "Estimated Shares Outstanding": "shares", "Long-Term Debt": "total_debt", "Cash and Cash Equivalents": "total_cash",
    "Net Receivables": "receivables", "Total Assets": "total_assets", "Total Equity": "total_equity",
}
"""The bundled annual statements' column names, mapped to the pipeline's (as a user's file source maps its own)."""
