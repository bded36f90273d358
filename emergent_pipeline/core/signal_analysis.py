"""How well a score ranks what the trades made: daily IC, Rank IC and ICIR, and quantile groups.

Qlib's signal analysis, on the as-issued record: on each signal day with at least
:data:`MIN_SIGNALS_PER_DAY` resolved signals scored on that day, the IC is the Pearson correlation of
the score with the trades' net return across that day's signals, the Rank IC the Spearman one. The
mean over days comes with a 95 % day-block bootstrap interval (blocks of consecutive IC days, as
everywhere in the summary), and the ICIR is the mean over its standard deviation (per day, not
annualised). Quantile groups pool the window's signals into five groups by the score (a day holds
too few signals to split it five ways) with each group's record (``score_record.group_records``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from emergent_pipeline.core import performance
from emergent_pipeline.core.score_record import group_records

SCORES = ("ml_probability", "expected_return")
"""The served scores whose ranking is analysed."""
MIN_SIGNALS_PER_DAY = 5
"""A correlation over fewer signals is mostly noise (Qlib's cross-sections hold hundreds of stocks)."""
QUANTILES = 5


def daily_ic(trades: pd.DataFrame, score: str, min_signals: int = MIN_SIGNALS_PER_DAY) -> pd.DataFrame:
    """Per signal day with at least ``min_signals`` scored, resolved signals: ``signals``, ``ic``
    (Pearson) and ``rank_ic`` (Spearman: Pearson of the within-day ranks, ties averaged) of ``score``
    with ``return_net``. Grouped sums, no loop over days; a day whose score or return does not vary
    has no correlation (NaN)."""
    chosen = trades[trades[score].notna() & trades["return_net"].notna()]
    frame = pd.DataFrame({"date": pd.to_datetime(chosen["date"]).to_numpy(), "x": chosen[score].to_numpy(dtype="float64"),
                          "y": chosen["return_net"].to_numpy(dtype="float64")})
    frame["rx"] = frame.groupby("date")["x"].rank(method="average")
    frame["ry"] = frame.groupby("date")["y"].rank(method="average")
    table = pd.DataFrame({"signals": frame.groupby("date").size(), "ic": _grouped_pearson(frame, "x", "y"),
                          "rank_ic": _grouped_pearson(frame, "rx", "ry")})
    return table[table["signals"] >= min_signals].rename_axis("date")


def _grouped_pearson(frame: pd.DataFrame, x: str, y: str) -> pd.Series:
    """Pearson correlation of columns ``x`` and ``y`` within each date, from grouped moments."""
    centred = frame.assign(dx=frame[x] - frame.groupby("date")[x].transform("mean"), dy=frame[y] - frame.groupby("date")[y].transform("mean"))
    sums = centred.assign(xy=centred["dx"] * centred["dy"], xx=centred["dx"] ** 2, yy=centred["dy"] ** 2).groupby("date")[["xy", "xx", "yy"]].sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums["xy"] / np.sqrt(sums["xx"] * sums["yy"])


def ic_summary(daily: pd.DataFrame, bootstrap: performance.BootstrapParams = performance.BootstrapParams()) -> dict[str, float]:
    """Days, mean IC and Rank IC with 95 % day-block bootstrap intervals, their standard deviations
    and ICIR (mean / std), from :func:`daily_ic`."""
    summary: dict[str, float] = {"days": len(daily)}
    replicates = performance.block_indices(len(daily), bootstrap) if len(daily) else None
    for column in ("ic", "rank_ic"):
        values = daily[column].to_numpy(dtype="float64")
        known = ~np.isnan(values)
        mean, std = (float(np.mean(values[known])), float(np.std(values[known], ddof=1))) if known.sum() > 1 else (np.nan, np.nan)
        low, high = np.nan, np.nan
        if replicates is not None and known.sum() > 1:
            means = performance.resampled_mean(np.where(known, values, 0.0), known.astype(float), replicates)
            low, high = performance.percentile_interval(means, bootstrap)
        summary |= {f"{column}_mean": mean, f"{column}_low": low, f"{column}_high": high, f"{column}_std": std,
                    f"{column}ir": mean / std if std and not np.isnan(std) else np.nan}
    return summary


def quantile_groups(trades: pd.DataFrame, score: str, quantiles: int = QUANTILES) -> pd.DataFrame:
    """The window's scored, resolved signals in ``quantiles`` groups by ``score`` (1 = lowest), each
    with its score range and record (``score_record.RECORD_COLUMNS``)."""
    chosen = trades[trades[score].notna() & trades["return_net"].notna()]
    if len(chosen) < quantiles:
        return pd.DataFrame()
    group = pd.qcut(chosen[score].rank(method="first"), quantiles, labels=range(1, quantiles + 1)).astype(int)
    table = group_records(chosen, group.to_numpy(), range(1, quantiles + 1))
    ranges = chosen.groupby(group.to_numpy())[score].agg(["min", "max"]).rename(columns={"min": "score_low", "max": "score_high"})
    return table.join(ranges).rename_axis("quantile")


def signal_analysis(trades: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """For each of :data:`SCORES`: one row of :func:`ic_summary`, and its :func:`quantile_groups`."""
    summaries, groups = [], []
    for score in SCORES:
        summaries.append({"score": score, **ic_summary(daily_ic(trades, score))})
        table = quantile_groups(trades, score)
        if len(table):
            groups.append(table.reset_index().assign(score=score))
    return pd.DataFrame(summaries), (pd.concat(groups, ignore_index=True) if groups else pd.DataFrame({"score": []}))
