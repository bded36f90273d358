"""The statistics a quant reads first in any backtest report, per portfolio, from quantstats.

vectorbt's ``stats()``, Lean and pyfolio open with the same figures: return and risk (CAGR,
volatility, Sharpe, Sortino, Calmar), the drawdown and how long it lasted, the trades (win rate,
profit factor, expectancy), how much of the time money was at work (exposure) and how much of the
book changed hands (turnover), and alpha and beta against the index. They come from quantstats, a
maintained library, on the portfolio's daily equal-weight returns (``performance.equity_curve``)
and its trades' net returns; only turnover, which needs the positions, is ours. quantstats is
imported when a tearsheet is asked for (it takes over a second to import, which every process of
the project would otherwise pay).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from emergent_pipeline.core.performance import TRADING_DAYS

TEARSHEET_COLUMNS = [
    "cagr", "volatility", "sharpe", "sortino", "calmar", "max_drawdown", "longest_drawdown_days", "win_rate", "profit_factor",
    "expectancy", "exposure", "turnover", "alpha", "beta",
]


def portfolio_statistics(curve: pd.DataFrame, trade_returns: pd.Series, benchmark_returns: pd.Series | None) -> dict[str, float]:
    """:data:`TEARSHEET_COLUMNS` of one portfolio: ``curve`` (daily ``return`` and ``positions``,
    indexed by day), its trades' net returns, and the benchmark's daily returns on the same days
    (alpha and beta are missing without one). Win rate, profit factor and expectancy are per trade."""
    from quantstats import stats  # noqa: PLC0415 (see the module's docstring)

    returns = curve["return"].astype("float64")
    trades = trade_returns.dropna().astype("float64").reset_index(drop=True)
    if len(returns) < 2 or returns.std() == 0:
        return dict.fromkeys(TEARSHEET_COLUMNS, np.nan)
    drawdowns = stats.drawdown_details(stats.to_drawdown_series(returns))
    figures = {
        "cagr": stats.cagr(returns, periods=TRADING_DAYS), "volatility": stats.volatility(returns, periods=TRADING_DAYS),
        "sharpe": stats.sharpe(returns, periods=TRADING_DAYS), "sortino": stats.sortino(returns, periods=TRADING_DAYS),
        "calmar": stats.calmar(returns), "max_drawdown": stats.max_drawdown(returns),
        "longest_drawdown_days": float(drawdowns["days"].max()) if len(drawdowns) else 0.0,
        "win_rate": stats.win_rate(trades) if len(trades) else np.nan,
        "profit_factor": stats.profit_factor(trades) if len(trades) else np.nan,
        "expectancy": float(trades.mean()) if len(trades) else np.nan,
        "exposure": stats.exposure(returns),
        "turnover": turnover(curve, len(trades)),
        "alpha": np.nan, "beta": np.nan,
    }
    if benchmark_returns is not None and benchmark_returns.std() > 0:
        greeks = stats.greeks(returns, benchmark_returns.reindex(returns.index).fillna(0.0), periods=TRADING_DAYS)
        figures |= {"alpha": float(greeks["alpha"]), "beta": float(greeks["beta"])}
    return {k: float(v) for k, v in figures.items()}


def turnover(curve: pd.DataFrame, trades: int) -> float:
    """The share of the book replaced per day: positions opened per day over the mean number held
    (each position is a 1/N slice of an equal-weight book, so opening one replaces 1/N of it)."""
    held = curve["positions"].mean()
    return float(trades / len(curve) / held) if held > 0 else np.nan
