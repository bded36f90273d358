"""What the signals did, out of sample: trade statistics, portfolio equity curves and breakdowns.

The portfolio holds every signal from its entry (D+1's open) to its exit, equal-weighted across the
positions open on each day (cash when none is), so its curve is what a person taking every signal
would have seen. Sharpe and drawdown are written out here (a few lines each) rather than pulled from
an unmaintained library; the hit-rate interval is scipy's Wilson interval.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import binomtest

from emergent_pipeline.core.indicators import locate_rows

TRADING_DAYS = 252


class InSampleError(ValueError):
    """Asked to report rows the model learned from as out-of-sample."""


def out_of_sample(signals: pd.DataFrame, training_cutoff: pd.Timestamp, start: pd.Timestamp | None = None) -> pd.DataFrame:
    """The signals dated after the model's training cut-off (from ``start`` if given).

    A ``start`` on or before the cut-off is refused: those signals (or their neighbours) were
    used to fit or calibrate the model, and their results would flatter it.
    """
    cutoff = pd.Timestamp(training_cutoff)
    if start is not None and pd.Timestamp(start) <= cutoff:
        raise InSampleError(
            f"refusing to report signals from {pd.Timestamp(start):%Y-%m-%d} as out-of-sample: the model was "
            f"trained on signals up to {cutoff:%Y-%m-%d}; choose a start after that day"
        )
    first = cutoff if start is None else pd.Timestamp(start) - pd.Timedelta(days=1)
    return signals[signals["date"] > first]


def trade_statistics(returns: pd.Series) -> dict[str, float]:
    """Count, hit rate (return > 0 after costs) with its 95 % Wilson interval, mean and median."""
    returns = returns.dropna()
    n, wins = len(returns), int((returns > 0).sum())
    if n == 0:
        return {"trades": 0, "hit_rate": np.nan, "hit_rate_low": np.nan, "hit_rate_high": np.nan, "mean_return": np.nan, "median_return": np.nan}
    interval = binomtest(wins, n).proportion_ci(confidence_level=0.95, method="wilson")
    return {
        "trades": n, "hit_rate": wins / n, "hit_rate_low": interval.low, "hit_rate_high": interval.high,
        "mean_return": float(returns.mean()), "median_return": float(returns.median()),
    }


def position_returns(panel: pd.DataFrame, trades: pd.DataFrame, cost_per_side: float) -> pd.DataFrame:
    """Each resolved trade's daily returns from its entry bar to its exit bar: (trade, date, return).

    Entry day: close / fill - 1 - cost; later days close-to-close; exit day: exit price / previous
    close - 1 - cost (a one-day trade: exit / fill - 1 - 2 costs). SELL trades gain when prices fall.
    ``panel`` is ``sorted_panel(prices)``, made once by the caller for all the portfolios it compares.
    """
    entry_row = locate_rows(panel, trades["symbol"], trades["entry_date"])
    days = trades["bars_held"].to_numpy(dtype="int64")
    owner = np.repeat(np.arange(len(trades)), days)
    offset = np.arange(days.sum()) - np.repeat(np.cumsum(days) - days, days)
    row = entry_row[owner] + offset
    close = panel["close"].to_numpy()
    last = offset == days[owner] - 1
    start_price = np.where(offset == 0, trades["entry_fill"].to_numpy()[owner], close[row - 1])
    end_price = np.where(last, trades["exit_price"].to_numpy()[owner], close[row])
    direction = np.where(trades["signal_type"].to_numpy()[owner] == "BUY", 1.0, -1.0)
    daily = direction * (end_price / start_price - 1.0) - cost_per_side * ((offset == 0).astype(float) + last.astype(float))
    return pd.DataFrame({"trade": owner, "date": panel["date"].to_numpy()[row], "return": daily})


def equity_curve(daily_positions: pd.DataFrame, calendar: pd.DatetimeIndex) -> pd.DataFrame:
    """Equal-weight portfolio of the positions open each day over ``calendar``: return, equity,
    drawdown and the number of open positions (0 is a day in cash)."""
    by_day = daily_positions.groupby("date")["return"].agg(["mean", "size"]).reindex(calendar)
    daily = by_day["mean"].fillna(0.0)
    equity = (1.0 + daily).cumprod()
    return pd.DataFrame(
        {"return": daily.to_numpy(), "equity": equity.to_numpy(), "drawdown": (equity / equity.cummax() - 1.0).to_numpy(),
         "positions": by_day["size"].fillna(0).astype(int).to_numpy()},
        index=calendar,
    )


def curve_statistics(curve: pd.DataFrame) -> dict[str, float]:
    """Annualised return and volatility, Sharpe (no risk-free rate) and maximum drawdown."""
    returns = curve["return"]
    n = len(returns)
    if n == 0:
        return {"days": 0, "total_return": np.nan, "annual_return": np.nan, "annual_volatility": np.nan, "sharpe": np.nan, "max_drawdown": np.nan}
    total = float(curve["equity"].iloc[-1] - 1.0)
    volatility = float(returns.std(ddof=1) * np.sqrt(TRADING_DAYS)) if n > 1 else np.nan
    return {
        "days": n,
        "total_return": total,
        "annual_return": float((1.0 + total) ** (TRADING_DAYS / n) - 1.0),
        "annual_volatility": volatility,
        "sharpe": float(returns.mean() * TRADING_DAYS / volatility) if volatility and volatility > 0 else np.nan,
        "max_drawdown": float(curve["drawdown"].min()),
    }


def buy_and_hold(benchmark: pd.DataFrame, calendar: pd.DatetimeIndex) -> pd.DataFrame:
    """The benchmark bought at the first day's close and held over ``calendar``."""
    close = benchmark.set_index("date")["close"].sort_index().reindex(calendar).ffill()
    daily = close.pct_change(fill_method=None).fillna(0.0)
    equity = (1.0 + daily).cumprod()
    return pd.DataFrame({"return": daily.to_numpy(), "equity": equity.to_numpy(), "drawdown": (equity / equity.cummax() - 1.0).to_numpy(),
                         "positions": 1}, index=calendar)


@dataclass(frozen=True)
class PortfolioSpec:
    name: str
    threshold: float | None  # ML filter: keep ml_probability > threshold; None keeps every signal


PORTFOLIOS = (
    PortfolioSpec("consensus (unfiltered)", None),
    PortfolioSpec("ML > 0.45", 0.45),
    PortfolioSpec("ML > 0.60", 0.60),
    PortfolioSpec("ML > 0.75", 0.75),
)
