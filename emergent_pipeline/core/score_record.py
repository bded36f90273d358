"""What a probability has meant: the as-issued record of the signals issued at it, by band.

A user who reads "BUY, 0.68" needs to know what signals issued near 0.68 have done. The record is
the resolved signals whose score was issued on their own day (by a model that had learned only
labels ended before it: out of sample by construction), grouped by the band their probability fell
in. Per band: how many, how many of 100 made money (net return after costs > 0, the one meaning of
success) with a Wilson interval, and the mean net return per trade with a day-block bootstrap
interval (trades that entered on nearby days move together, so whole blocks of entry days are
resampled, as in the performance summary).

What was known on a day D is the signals resolved by D's close (exit on or before D): a record served
for D never counts an outcome that came later.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from emergent_pipeline.core import performance
from emergent_pipeline.core.recommendations import THRESHOLDS

BAND_EDGES = (0.0, 0.3, *sorted(THRESHOLDS), 1.0)
"""Band edges of ``ml_probability``: the recommendation's tiers (0.45, 0.60, 0.75) and a split of the
low end at 0.30, so a band never mixes recommended and skipped probabilities."""
BAND_NAMES = tuple(f"{low:.2f}-{high:.2f}" for low, high in zip(BAND_EDGES[:-1], BAND_EDGES[1:]))
RECORD_COLUMNS = [
    "signals", "made_money_of_100", "made_money_low", "made_money_high", "mean_return", "mean_return_low", "mean_return_high",
    "first_signal", "last_exit",
]


def probability_band(probability) -> pd.Series:
    """The band name of each probability (a band includes its upper edge; missing stays missing)."""
    return pd.cut(pd.Series(probability, dtype="float64"), bins=list(BAND_EDGES), labels=list(BAND_NAMES), include_lowest=True)


def known_on(trades: pd.DataFrame, day: pd.Timestamp | None = None) -> pd.DataFrame:
    """The resolved trades with an own-day score whose outcome was known by ``day``'s close (all
    resolved ones by default): labelled, and exited on or before ``day``."""
    resolved = trades["label"].notna() & trades["ml_probability"].notna()
    if day is not None:
        resolved &= pd.to_datetime(trades["exit_date"]) <= pd.Timestamp(day)
    return trades[resolved]


def band_records(trades: pd.DataFrame, bootstrap: performance.BootstrapParams = performance.BootstrapParams()) -> pd.DataFrame:
    """One row per band that has a resolved trade (index ``probability``): :data:`RECORD_COLUMNS`.

    ``trades``: resolved signals with ``ml_probability`` issued on their day, ``return_net``,
    ``entry_date`` and ``exit_date`` (see :func:`known_on`)."""
    band = probability_band(trades["ml_probability"].to_numpy())
    return group_records(trades, band, BAND_NAMES, bootstrap).rename_axis("probability")


def group_records(trades: pd.DataFrame, group: pd.Series, names, bootstrap: performance.BootstrapParams = performance.BootstrapParams()) -> pd.DataFrame:
    """:data:`RECORD_COLUMNS` of the trades in each group of ``names`` that has one (``group`` labels
    each trade). The bootstrap resamples blocks of the trades' own entry days, the same days for
    every group."""
    calendar = pd.DatetimeIndex(np.unique(pd.to_datetime(trades["entry_date"]).to_numpy()))
    replicates = performance.block_indices(len(calendar), bootstrap)  # drawn once: every group resamples the same days
    labels = np.asarray(group, dtype=object)
    rows = {}
    for name in names:  # a handful of groups: a loop over groups, each vectorised
        chosen = trades[labels == name]
        if chosen.empty:
            continue
        stats = performance.trade_statistics(chosen["return_net"])
        low, high = performance.percentile_interval(performance.resampled_mean(*performance.per_day(chosen, calendar), replicates), bootstrap)
        rows[name] = {
            "signals": stats["trades"], "made_money_of_100": 100 * stats["hit_rate"],
            "made_money_low": 100 * stats["hit_rate_low"], "made_money_high": 100 * stats["hit_rate_high"],
            "mean_return": stats["mean_return"], "mean_return_low": low, "mean_return_high": high,
            "first_signal": pd.Timestamp(chosen["date"].min()), "last_exit": pd.Timestamp(chosen["exit_date"].max()),
        }
    table = pd.DataFrame.from_dict(rows, orient="index", columns=RECORD_COLUMNS)
    table["signals"] = table["signals"].astype("int64")
    return table


def record_sentence(band: str, row) -> str:
    """The record of a band in words: "of 412 signals issued at 0.60-0.75, 55 % made money (50-60 %),
    mean -0.10 % per trade (-0.50 % to +0.30 %)"."""
    return (f"of {int(row['signals']):,} signals issued at {band}, {row['made_money_of_100']:.0f} % made money "
            f"({row['made_money_low']:.0f}-{row['made_money_high']:.0f} %), mean {row['mean_return'] * 100:+.2f} % per trade "
            f"({row['mean_return_low'] * 100:+.2f} % to {row['mean_return_high'] * 100:+.2f} %)")
