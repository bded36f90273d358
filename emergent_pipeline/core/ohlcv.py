"""The long OHLCV table every price source produces, and the row rules that admit a bar to it.

Every source (bundled panel, yfinance, a user's file) ends in :func:`validate_ohlcv`, so a bar that
enters ``price_history`` has passed the same rules whatever its origin. Rejected rows are returned
with a reason each, never dropped silently: the asset shows and stores them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

OHLCV_COLUMNS = ["symbol", "date", "open", "high", "low", "close", "volume"]
PRICE_COLUMNS = ["open", "high", "low", "close"]


@dataclass(frozen=True)
class ValidatedPrices:
    """Accepted bars, in OHLCV form, and rejected input rows with a ``reason`` column."""

    accepted: pd.DataFrame
    rejected: pd.DataFrame


def empty_ohlcv() -> pd.DataFrame:
    """An OHLCV frame with no rows and the canonical dtypes."""
    return pd.DataFrame(
        {
            "symbol": pd.Series(dtype="object"),
            "date": pd.Series(dtype="datetime64[ns]"),
            **{c: pd.Series(dtype="float64") for c in PRICE_COLUMNS},
            "volume": pd.Series(dtype="float64"),
        }
    )


def validate_ohlcv(raw: pd.DataFrame) -> ValidatedPrices:
    """Coerce ``raw`` (already carrying the OHLCV column names) and split it into accepted and
    rejected rows.

    A row is rejected, with the first reason that applies, when its symbol is empty, its date does
    not parse, its close is missing, any present price is not positive, its high is below its low,
    its open or close lies outside its own low-high range, or it repeats an earlier (symbol, date).
    A missing open/high/low alone is not a rejection: the close is still a real print, and the
    ``ohlc_consistency`` check reports such bars.
    """
    missing = [c for c in OHLCV_COLUMNS if c not in raw.columns]
    if missing:
        raise ValueError(
            f"price data lacks the column(s) {missing}; it has {list(raw.columns)}. "
            "Map the source's names onto symbol, date, open, high, low, close, volume."
        )
    dates = pd.to_datetime(raw["date"], errors="coerce", format="mixed")
    if getattr(dates.dt, "tz", None) is not None:
        dates = dates.dt.tz_localize(None)
    # Built column by column into a new frame: copying the raw frame first, then replacing its
    # columns, cost seconds on a long history (pandas consolidates the blocks on every copy).
    frame = pd.DataFrame({
        "symbol": raw["symbol"].astype("string").str.strip().str.upper(),
        "date": dates.dt.normalize().astype("datetime64[ns]"),
        **{column: pd.to_numeric(raw[column], errors="coerce").astype("float64", copy=False) for column in [*PRICE_COLUMNS, "volume"]},
    })
    order, repeated = _sorted_with_repeats(frame)

    # Each rule on the columns' own arrays, and the reason as a rule number: a frame of the four
    # prices, a reason string per row set eight times over, and a reordering copy of a file already
    # in order were the largest allocations of a whole history's validation.
    symbol, price = frame["symbol"], {column: frame[column].to_numpy() for column in [*PRICE_COLUMNS, "volume"]}
    low, high = price["low"], price["high"]
    rules = [
        ("empty symbol", (symbol.isna() | (symbol == "")).to_numpy(dtype=bool, na_value=True)),
        ("unparseable date", frame["date"].isna().to_numpy()),
        ("missing close", np.isnan(price["close"])),
        ("non-positive price", np.logical_or.reduce([price[column] <= 0 for column in PRICE_COLUMNS])),
        ("high below low", high < low),
        # A print outside its own bar's range (CHD 2014-05-19 opens at 18.77 over a low of 33.70) is
        # no price anyone traded at: feeding it to indicators and outcomes would invent moves.
        ("open or close outside the bar's low-high range", (price["open"] < low) | (price["open"] > high)
         | (price["close"] < low) | (price["close"] > high)),
        ("negative volume", price["volume"] < 0),
        ("duplicate (symbol, date)", repeated),
    ]
    first_rule = np.full(len(frame), len(rules))
    for number in reversed(range(len(rules))):  # the first rule that applies wins
        first_rule[rules[number][1]] = number
    bad = first_rule < len(rules)
    labels = np.array([label for label, _ in rules], dtype=object)
    del rules, price, low, high  # the masks: freed before the accepted rows are taken

    kept = order[~bad[order]]
    if np.all(kept[1:] > kept[:-1]):  # a file in order: its good rows in place
        accepted = (frame if len(kept) == len(frame) else frame[~bad]).reset_index(drop=True)
    else:
        accepted = frame.take(kept).reset_index(drop=True)
    accepted["symbol"] = accepted["symbol"].astype(str)
    rejected = raw.loc[bad].copy()
    rejected.insert(0, "reason", labels[first_rule[bad]])
    rejected.insert(0, "source_row", np.flatnonzero(bad))
    return ValidatedPrices(accepted=accepted, rejected=rejected.reset_index(drop=True))


def _sorted_with_repeats(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(the rows' order by symbol, then date, stable; whether a row repeats the (symbol, date) of an
    earlier row of the file): one sort of integer codes instead of a sort and a hash of strings."""
    codes = pd.factorize(frame["symbol"], sort=True)[0]  # a missing symbol is -1, like any other key
    days = frame["date"].to_numpy(dtype="datetime64[ns]").view("int64")
    if in_key_order(codes, days):  # a file in order already: no sort
        order = np.arange(len(frame))
    else:
        order = np.lexsort((days, codes))  # stable: equal keys keep the file's order, so the first is the earlier row
    same_as_previous = (codes[order][1:] == codes[order][:-1]) & (days[order][1:] == days[order][:-1])
    repeated = np.zeros(len(frame), dtype=bool)
    repeated[order[1:]] = same_as_previous
    return order, repeated


def in_key_order(codes: np.ndarray, days: np.ndarray) -> bool:
    """Whether rows already run by ``codes``, then ``days`` (both integers): a stable sort would
    leave them where they are."""
    code_step, day_step = np.diff(codes), np.diff(days)
    return bool(np.all((code_step > 0) | ((code_step == 0) & (day_step >= 0))))


def merge_new_bars(stored: pd.DataFrame, fresh: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Append the bars of ``fresh`` that ``stored`` does not have yet.

    Stored bars are never rewritten: an incremental download only adds days. Returns the merged
    table and the rows actually added.
    """
    if stored.empty:
        added = fresh
    else:
        keys = pd.MultiIndex.from_frame(stored[["symbol", "date"]])
        is_new = ~pd.MultiIndex.from_frame(fresh[["symbol", "date"]]).isin(keys)
        added = fresh.loc[is_new]
    merged = pd.concat([stored[OHLCV_COLUMNS], added[OHLCV_COLUMNS]], ignore_index=True)
    merged = merged.sort_values(["symbol", "date"], kind="mergesort").reset_index(drop=True)
    return merged, added.reset_index(drop=True)
