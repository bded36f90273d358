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

    prices = frame[PRICE_COLUMNS]
    rules = [
        ("empty symbol", frame["symbol"].isna() | (frame["symbol"] == "")),
        ("unparseable date", frame["date"].isna()),
        ("missing close", frame["close"].isna()),
        ("non-positive price", (prices <= 0).any(axis=1)),
        ("high below low", frame["high"] < frame["low"]),
        # A print outside its own bar's range (CHD 2014-05-19 opens at 18.77 over a low of 33.70) is
        # no price anyone traded at: feeding it to indicators and outcomes would invent moves.
        ("open or close outside the bar's low-high range", (frame["open"] < frame["low"]) | (frame["open"] > frame["high"])
         | (frame["close"] < frame["low"]) | (frame["close"] > frame["high"])),
        ("negative volume", frame["volume"] < 0),
        ("duplicate (symbol, date)", pd.Series(repeated, index=frame.index)),
    ]
    reason = pd.Series(pd.NA, index=frame.index, dtype="object")
    for label, mask in reversed(rules):  # the first rule that applies wins
        reason = reason.mask(mask.fillna(False).to_numpy(), label)
    bad = reason.notna().to_numpy()

    accepted = frame.take(order[~bad[order]]).reset_index(drop=True)
    accepted["symbol"] = accepted["symbol"].astype(str)
    rejected = raw.loc[bad].copy()
    rejected.insert(0, "reason", reason[bad].astype(str).to_numpy())
    rejected.insert(0, "source_row", np.flatnonzero(bad))
    return ValidatedPrices(accepted=accepted, rejected=rejected.reset_index(drop=True))


def _sorted_with_repeats(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(the rows' order by symbol, then date, stable; whether a row repeats the (symbol, date) of an
    earlier row of the file): one sort of integer codes instead of a sort and a hash of strings."""
    codes = pd.factorize(frame["symbol"], sort=True)[0]  # a missing symbol is -1, like any other key
    days = frame["date"].to_numpy(dtype="datetime64[ns]").view("int64")
    order = np.lexsort((days, codes))  # stable: equal keys keep the file's order, so the first is the earlier row
    same_as_previous = (codes[order][1:] == codes[order][:-1]) & (days[order][1:] == days[order][:-1])
    repeated = np.zeros(len(frame), dtype=bool)
    repeated[order[1:]] = same_as_previous
    return order, repeated


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
