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
from emergent_pipeline.core.recommendations import MODEL_ALONE_PORTFOLIO, RECOMMENDED_PORTFOLIO, THRESHOLDS, is_recommended
from emergent_pipeline.core.sizing import kelly_size

TRADING_DAYS = 252


class InSampleError(ValueError):
    """Asked to report rows the model learned from as out-of-sample."""


def forward_start(label_end: pd.Timestamp, start: pd.Timestamp | None = None) -> pd.Timestamp:
    """The first day of a model's forward record: the day after the newest label end it learned
    from, or a later ``start``. A ``start`` on or before that label end is refused: a signal dated
    there may have been issued while its outcome (or a neighbour's) was being learned."""
    end = pd.Timestamp(label_end)
    if start is not None and pd.Timestamp(start) <= end:
        raise InSampleError(
            f"refusing to report signals from {pd.Timestamp(start):%Y-%m-%d} as out-of-sample: the serving model learned "
            f"labels that ended as late as {end:%Y-%m-%d}; choose a start after that day"
        )
    return end + pd.Timedelta(days=1) if start is None else pd.Timestamp(start)


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


def equity_curve(daily_positions: pd.DataFrame, calendar: pd.DatetimeIndex, weights: np.ndarray | None = None) -> pd.DataFrame:
    """Portfolio of the positions open each day over ``calendar``: return, equity, drawdown and the
    number of open positions (0 is a day in cash). Equal-weighted, or in proportion to ``weights``
    (one per trade of ``position_returns``; a trade of weight 0 holds nothing)."""
    if weights is None:
        by_day = daily_positions.groupby("date")["return"].agg(["mean", "size"]).reindex(calendar)
    else:
        weight = np.asarray(weights, dtype=float)[daily_positions["trade"].to_numpy()]
        held = daily_positions.assign(weighted=daily_positions["return"] * weight, weight=weight)[weight > 0]
        by_day = held.groupby("date").agg(weighted=("weighted", "sum"), weight=("weight", "sum"), size=("return", "size")).reindex(calendar)
        by_day["mean"] = by_day["weighted"] / by_day["weight"]
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
        # Annualising a few weeks would turn a 5 % month into 80 % a year: not below a quarter.
        "annual_return": float((1.0 + total) ** (TRADING_DAYS / n) - 1.0) if n >= TRADING_DAYS // 4 else np.nan,
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
    threshold: float | None = None  # keep ml_probability > threshold
    recommended: bool = False  # keep the recommended signals (not SKIP)
    recommendation: str = "ml_recommendation"
    """The column read: the served recommendation (earn-its-place rule applied), or the model's own."""
    kelly: bool = False
    """Keep the signals with a positive fractional-Kelly size (``core.sizing``)."""
    sized: bool = False
    """Positions in proportion to that size instead of equal weights."""
    baseline: str | None = None
    """The portfolio whose Sharpe this one's is compared with (None: the unfiltered consensus)."""

    def select(self, trades: pd.DataFrame) -> pd.DataFrame:
        chosen = trades
        if self.kelly:
            chosen = chosen[np.nan_to_num(kelly_sizes(chosen)) > 0]
        if self.recommended:
            chosen = chosen[is_recommended(chosen[self.recommendation])]
        if self.threshold is not None:
            chosen = chosen[chosen["ml_probability"] > self.threshold]
        return chosen

    def weights(self, chosen: pd.DataFrame) -> np.ndarray | None:
        """Each chosen trade's weight in the portfolio: its Kelly size when sized, else None (equal)."""
        return np.nan_to_num(kelly_sizes(chosen)) if self.sized else None


def kelly_sizes(trades: pd.DataFrame) -> np.ndarray:
    """Each trade's fractional-Kelly size from its issued probability and its levels (``core.sizing``)."""
    return kelly_size(trades["ml_probability"], trades["entry_price"], trades["target_price"], trades["stop_loss"])


UNFILTERED = PortfolioSpec("consensus (unfiltered)")
RECOMMENDED = PortfolioSpec(RECOMMENDED_PORTFOLIO, recommended=True)
MODEL_ALONE = PortfolioSpec(MODEL_ALONE_PORTFOLIO, recommended=True, recommendation="model_recommendation")
"""The model's own recommendations, without the earn-its-place rule (``core.earned_place``)."""
KELLY_EQUAL = PortfolioSpec("consensus with a positive Kelly size, equal-weighted", kelly=True)
"""The scored consensus signals the sizing takes a position in, each with the same weight: the sized portfolio's baseline."""
SIZED = PortfolioSpec("consensus sized by fractional Kelly", kelly=True, sized=True, baseline=KELLY_EQUAL.name)
"""The same signals, each position in proportion to its Kelly size: what sizing adds is its Sharpe against KELLY_EQUAL's."""
PORTFOLIOS = (UNFILTERED, KELLY_EQUAL, SIZED, RECOMMENDED, MODEL_ALONE, *(PortfolioSpec(f"ML > {t:.2f}", threshold=t) for t in sorted(THRESHOLDS)))


@dataclass(frozen=True)
class BootstrapParams:
    """Day-block bootstrap: whole blocks of consecutive trading days are resampled, so that trades
    open at the same time (and so moving together) stay together."""

    block_days: int = 20
    replicates: int = 2000
    confidence: float = 0.95
    min_trades: int = 100
    """Below this many trades nothing is claimed either way."""
    seed: int = 7


def block_indices(n_days: int, params: BootstrapParams) -> np.ndarray:
    """(replicates × n_days) day indices: circular blocks of ``block_days`` from random starts."""
    rng = np.random.default_rng(params.seed)
    blocks = -(-n_days // params.block_days)
    starts = rng.integers(0, n_days, size=(params.replicates, blocks))
    days = (starts[:, :, None] + np.arange(params.block_days)[None, None, :]) % n_days
    return days.reshape(params.replicates, -1)[:, :n_days]


def per_day(trades: pd.DataFrame, calendar: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
    """Sum of net returns and count of trades per entry day of ``calendar``."""
    day = calendar.searchsorted(pd.to_datetime(trades["entry_date"]).to_numpy())
    inside = (day < len(calendar)) & trades["return_net"].notna().to_numpy()
    sums = np.bincount(day[inside], weights=trades["return_net"].to_numpy()[inside], minlength=len(calendar))
    counts = np.bincount(day[inside], minlength=len(calendar)).astype(float)
    return sums, counts


def percentile_interval(values: np.ndarray, params: BootstrapParams) -> tuple[float, float]:
    """The central ``params.confidence`` interval of bootstrap replicates (NaN and infinite ones left out)."""
    tail = (1.0 - params.confidence) / 2.0 * 100
    finite = values[np.isfinite(values)]
    if not len(finite):
        return np.nan, np.nan
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)


def bootstrap_comparison(trades: pd.DataFrame, baseline: pd.DataFrame, curve: pd.DataFrame | None, calendar: pd.DatetimeIndex,
                         params: BootstrapParams = BootstrapParams(), baseline_curve: pd.DataFrame | None = None) -> dict[str, float]:
    """Day-block bootstrap intervals of a portfolio's mean net return per trade, of its Sharpe ratio
    (its daily returns ``curve``; NaN without one), of its mean per trade minus the ``baseline``'s,
    and of its Sharpe minus the baseline's (``baseline_curve``; NaN without one), the same days
    resampled for both."""
    idx = block_indices(len(calendar), params)
    mean = resampled_mean(*per_day(trades, calendar), idx)
    difference = mean - resampled_mean(*per_day(baseline, calendar), idx)
    with np.errstate(invalid="ignore", divide="ignore"):
        sharpe, base_sharpe = (resampled_sharpe(c, calendar, idx) for c in (curve, baseline_curve))
    (mean_low, mean_high), (diff_low, diff_high), (sharpe_low, sharpe_high), (sharpe_diff_low, sharpe_diff_high) = (
        percentile_interval(mean, params), percentile_interval(difference, params), percentile_interval(sharpe, params),
        percentile_interval(sharpe - base_sharpe, params))
    return {"mean_return_low": mean_low, "mean_return_high": mean_high, "sharpe_low": sharpe_low, "sharpe_high": sharpe_high,
            "vs_unfiltered_low": diff_low, "vs_unfiltered_high": diff_high,
            "sharpe_vs_baseline_low": sharpe_diff_low, "sharpe_vs_baseline_high": sharpe_diff_high}


def resampled_mean(sums: np.ndarray, counts: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """The mean per item in each bootstrap replicate of days ``idx``, from each day's sum and count
    (NaN for a replicate without an item)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums[idx].sum(axis=1) / counts[idx].sum(axis=1)


def resampled_sharpe(curve: pd.DataFrame | None, calendar: pd.DatetimeIndex, idx: np.ndarray) -> np.ndarray:
    """The Sharpe ratio of ``curve``'s daily returns in each bootstrap replicate (NaN without a curve)."""
    if curve is None:
        return np.full(len(idx), np.nan)
    daily = curve["return"].reindex(calendar).fillna(0.0).to_numpy()[idx]
    return daily.mean(axis=1) * TRADING_DAYS / (daily.std(axis=1, ddof=1) * np.sqrt(TRADING_DAYS))


def edge_verdict(trades: int, low: float, high: float, what: str = "per trade against the unfiltered consensus",
                 params: BootstrapParams = BootstrapParams()) -> str:
    """The claim the interval supports, in plain words: an edge only when the whole interval is above
    zero, "no proven edge" when it includes zero, nothing at all below ``min_trades`` trades."""
    if trades < params.min_trades:
        return f"too few trades to judge ({trades}, fewer than {params.min_trades})"
    span = f"{low * 100:+.2f} % to {high * 100:+.2f} % {what}, {params.confidence:.0%} interval"
    if low > 0:
        return f"edge: {span}"
    if high < 0:
        return f"worse: {span}"
    return f"no proven edge: {span}"
