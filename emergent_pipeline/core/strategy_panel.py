"""The one panel every strategy reads: prices, indicators, sector, size and point-in-time
fundamentals, one row per (symbol, D), all known at D's close.

Fundamentals are joined "as of" (``core.fundamentals``): a statement reaches a row only when it was
available on D and not yet too old, already on the price's share basis, and every price-dependent
ratio is recomputed with D's close (P/E at D = close_D / EPS known at D, market cap at D = shares
known at D × close_D), so nothing from after D leaks in.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from emergent_pipeline.core.fundamentals import FIELDS, as_of_rows, empty_point_in_time
from emergent_pipeline.core.indicators import compute_indicators, with_columns

JOINED = [*FIELDS, "eps_growth", "revenue_growth"]
"""Statement items each row carries: each from the newest statement usable on D that reports it."""


def _take(values: np.ndarray, at: np.ndarray) -> np.ndarray:
    """``values[at]`` with NaN / NaT where ``at`` is -1."""
    missing = np.datetime64("NaT", "ns") if np.issubdtype(values.dtype, np.datetime64) else np.nan
    if len(values) == 0:
        return np.full(len(at), missing)
    values = values.astype("datetime64[ns]") if np.issubdtype(values.dtype, np.datetime64) else values.astype("float64")
    return np.where(at >= 0, values[np.maximum(at, 0)], missing)


def join_fundamentals(panel: pd.DataFrame, fundamentals: pd.DataFrame | None) -> pd.DataFrame:
    """``panel`` (sorted by symbol and date, categorical ``symbol``) with what the statements usable on
    each row's D say, and the ratios at D's close: ``market_cap_pit``, ``pe_pit``, ``pb_pit``, ``roe``,
    ``ebitda_margin``. ``fundamentals`` is the point-in-time table (``fundamentals.point_in_time``).

    Each item comes from the newest usable statement that reports it, so a snapshot without a
    balance sheet does not hide the balance sheet of the statement before it; ``fund_period_end`` and
    ``fund_available_from`` are those of the newest usable statement (missing where none is)."""
    rows = fundamentals if fundamentals is not None and len(fundamentals) else empty_point_in_time()
    symbols = panel["symbol"].cat.categories
    codes = panel["symbol"].cat.codes.to_numpy()
    days = panel["date"].to_numpy(dtype="datetime64[D]").astype("int64")
    newest = as_of_rows(codes, days, symbols, rows)
    joined = {
        "fund_period_end": _take(rows["period_end"].to_numpy(), newest),
        "fund_available_from": _take(rows["available_from"].to_numpy(), newest),
    }
    for column in JOINED:
        values = _take(rows[column].to_numpy(), newest)
        origin = _take(rows["shares_from_period_end"].to_numpy(), newest) if column == "shares" else None
        # Only rows whose newest statement lacks the item look further back, among statements that have it.
        lacking = (newest >= 0) & np.isnan(values)
        if lacking.any():
            reported = rows[rows[column].notna()]
            at = as_of_rows(codes[lacking], days[lacking], symbols, reported)
            values[lacking] = _take(reported[column].to_numpy(), at)
            if origin is not None:
                origin[lacking] = _take(reported["shares_from_period_end"].to_numpy(), at)
        joined[column] = values
        if origin is not None:
            joined["shares_from_period_end"] = origin
    panel = with_columns(panel, joined)

    close = panel["close"]
    equity = panel["total_equity"].where(panel["total_equity"] > 0)
    revenue = panel["revenue"].where(panel["revenue"] > 0)
    panel["market_cap_pit"] = panel["shares"].where(panel["shares"] > 0) * close
    panel["pe_pit"] = close / panel["eps"].where(panel["eps"] > 0)
    panel["pb_pit"] = panel["market_cap_pit"] / equity
    panel["roe"] = panel["net_income"] / equity
    panel["ebitda_margin"] = panel["ebitda"] / revenue
    return panel


def with_sector(panel: pd.DataFrame, universe: pd.DataFrame | None) -> pd.DataFrame:
    """``sector`` per row from the universe table (missing where unknown)."""
    symbols = panel["symbol"].cat.categories
    codes = panel["symbol"].cat.codes.to_numpy()
    if universe is not None and "sector" in universe.columns:
        sector_of = universe.drop_duplicates("symbol").set_index("symbol")["sector"].reindex(symbols)
        # Categorise the few symbols' sectors, then spread the codes to the rows (no string per row).
        symbol_sector = pd.Categorical(sector_of.to_numpy())
        panel["sector"] = pd.Categorical.from_codes(symbol_sector.codes[codes], dtype=symbol_sector.dtype)
    else:
        panel["sector"] = pd.Categorical([None] * len(panel))
    return panel


def build_strategy_panel(
    prices: pd.DataFrame,
    universe: pd.DataFrame | None = None,
    fundamentals: pd.DataFrame | None = None,
    benchmark: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Indicators plus ``sector`` and the point-in-time fundamentals of :func:`join_fundamentals`."""
    panel = with_sector(compute_indicators(prices, benchmark), universe)
    return join_fundamentals(panel, fundamentals)


def size_percentile(panel: pd.DataFrame, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For the given panel rows: the symbol's size percentile among the symbols trading that day,
    and its basis: point-in-time market cap on days when most symbols have one, else 20-day
    average dollar volume (a size proxy known at D). Ties share their average rank.

    Per-day aggregates only (a rank within each day, counts per day): memory grows with the rows,
    never with the square of the universe.
    """
    day = panel["day"].to_numpy()
    days = int(day.max()) + 1 if len(day) else 0
    measures = {c: panel[c].to_numpy(dtype="float64") for c in ("market_cap_pit", "dollar_volume_20")}
    known = {c: np.bincount(day, weights=~np.isnan(v), minlength=days) for c, v in measures.items()}
    # One basis per day for everyone: market cap when most of the day's symbols have one, so a
    # symbol is never ranked against a different measure than its neighbours.
    use_cap = known["market_cap_pit"] >= 0.5 * np.maximum(known["dollar_volume_20"], 1)
    by_cap_row = use_cap[day]
    measure = np.where(by_cap_row, measures["market_cap_pit"], measures["dollar_volume_20"])
    # Rank only on the days the rows fall on (a rule asks for its candidates, not the whole panel).
    needed = np.zeros(days, dtype=bool)
    needed[day[rows]] = True
    on_needed = np.flatnonzero(needed[day])
    ranks = np.full(len(day), np.nan)
    ranks[on_needed] = pd.Series(measure[on_needed]).groupby(day[on_needed]).rank(method="average").to_numpy()  # NaN stays NaN
    counts = np.bincount(day, weights=~np.isnan(measure), minlength=days)
    percentile = ranks[rows] / counts[day[rows]]
    basis = np.where(np.isnan(measure[rows]), None, np.where(by_cap_row[rows], "market cap", "dollar volume"))
    return percentile, basis
