"""The one panel every strategy reads: prices, indicators, sector, size and point-in-time
fundamentals, one row per (symbol, D), all known at D's close.

Fundamentals are joined "as of": a snapshot dated ``as_of`` reaches a row only when D >= as_of,
and price-dependent ratios are recomputed with D's close (P/E at D = close_D / EPS known at D), so
nothing from after D leaks in. On the bundled panel the only snapshot (2018-02-08) is newer than the
last bar (2018-02-07): the fundamentals columns are missing on every row, and the strategies that
need them do not fire there.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from emergent_pipeline.core.indicators import compute_indicators

FUNDAMENTAL_COLUMNS = ["as_of", "price", "eps", "price_book", "price_sales", "market_cap", "ebitda", "eps_growth"]


def point_in_time_fundamentals(fundamentals: pd.DataFrame | None) -> pd.DataFrame:
    """Snapshots sorted by as_of with EPS growth against the symbol's previous snapshot."""
    if fundamentals is None or fundamentals.empty or "eps" not in fundamentals.columns:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in ["symbol", *FUNDAMENTAL_COLUMNS]}).astype(
            {"symbol": "object", "as_of": "datetime64[ns]"}
        )
    snapshots = fundamentals.copy()
    snapshots["as_of"] = pd.to_datetime(snapshots["as_of"]).astype("datetime64[ns]")
    snapshots = snapshots.sort_values(["symbol", "as_of"])
    previous_eps = snapshots.groupby("symbol")["eps"].shift(1)
    # Relative to the size of the previous EPS, so a loss turning into a profit counts as growth.
    snapshots["eps_growth"] = np.where(previous_eps != 0, (snapshots["eps"] - previous_eps) / previous_eps.abs(), np.nan)
    for column in FUNDAMENTAL_COLUMNS:
        if column not in snapshots.columns:
            snapshots[column] = np.nan
    return snapshots[["symbol", *FUNDAMENTAL_COLUMNS]]


def as_of_join(panel: pd.DataFrame, codes: np.ndarray, symbols: pd.Index, snapshots: pd.DataFrame) -> dict[str, np.ndarray]:
    """For each panel row, the columns of the symbol's newest snapshot with as_of <= D (else NaN).

    Keys are (symbol code, day number) packed into one integer, so one ``searchsorted`` finds every
    row's snapshot without re-sorting the panel.
    """
    day = panel["date"].to_numpy(dtype="datetime64[D]").astype("int64")
    snap_codes = symbols.get_indexer(snapshots["symbol"].astype(str))
    keep = snap_codes >= 0
    snapshots, snap_codes = snapshots[keep], snap_codes[keep]
    if snapshots.empty:
        return {c: np.full(len(panel), np.datetime64("NaT", "ns") if c == "fund_as_of" else np.nan) for c in snapshots.columns.drop("symbol")}
    snap_day = snapshots["fund_as_of"].to_numpy(dtype="datetime64[D]").astype("int64")
    packed = snap_codes.astype("int64") * 1_000_000 + snap_day
    order = np.argsort(packed, kind="mergesort")
    position = np.searchsorted(packed[order], codes.astype("int64") * 1_000_000 + day, side="right") - 1
    found = position >= 0
    found[found] = snap_codes[order][position[found]] == codes[found]
    rows = order[np.where(found, position, 0)]
    joined = {}
    for column in snapshots.columns.drop("symbol"):
        missing = np.datetime64("NaT", "ns") if column == "fund_as_of" else np.nan
        joined[column] = np.where(found, snapshots[column].to_numpy()[rows], missing)
    return joined


def build_strategy_panel(
    prices: pd.DataFrame,
    universe: pd.DataFrame | None = None,
    fundamentals: pd.DataFrame | None = None,
    benchmark: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Indicators plus ``sector`` and point-in-time fundamentals (``fund_as_of``, ``eps``, ``pe_pit``,
    ``pb_pit``, ``roe``, ``ebitda_margin``, ``eps_growth``, ``market_cap_pit``)."""
    panel = compute_indicators(prices, benchmark)
    symbols = panel["symbol"].cat.categories
    codes = panel["symbol"].cat.codes.to_numpy()
    if universe is not None and "sector" in universe.columns:
        sector_of = universe.drop_duplicates("symbol").set_index("symbol")["sector"].reindex(symbols)
        panel["sector"] = pd.Categorical(sector_of.to_numpy()[codes])
    else:
        panel["sector"] = pd.Categorical([None] * len(panel))

    snapshots = point_in_time_fundamentals(fundamentals).rename(columns={"as_of": "fund_as_of", "price": "fund_price"})
    panel = panel.assign(**as_of_join(panel, codes, symbols, snapshots))

    close = panel["close"]
    book_per_share = panel["fund_price"] / panel["price_book"]
    panel["pe_pit"] = close / panel["eps"].where(panel["eps"] > 0)
    panel["pb_pit"] = close / book_per_share.where(book_per_share > 0)
    panel["roe"] = panel["eps"] / book_per_share.where(book_per_share > 0)
    revenue = panel["market_cap"] / panel["price_sales"]
    panel["ebitda_margin"] = panel["ebitda"] / revenue.where(revenue > 0)
    panel["market_cap_pit"] = panel["market_cap"] * close / panel["fund_price"]

    return panel


def size_percentile(panel: pd.DataFrame, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For the given panel rows: the symbol's size percentile among the symbols trading that day,
    and its basis: point-in-time market cap on days when most symbols have one, else 20-day
    average dollar volume (a size proxy known at D). Ties share their average rank.

    Each measure is laid out as a (days × symbols) matrix, so a row's percentile is one comparison
    with its day's row of the matrix: no sort of the whole panel.
    """
    day = panel["day"].to_numpy()
    symbol = panel["symbol"].cat.codes.to_numpy()
    shape = (int(day.max()) + 1, len(panel["symbol"].cat.categories))
    matrices = {}
    for column in ("market_cap_pit", "dollar_volume_20"):
        matrix = np.full(shape, np.nan)
        matrix[day, symbol] = panel[column].to_numpy(dtype="float64")
        matrices[column] = matrix
    # One basis per day for everyone: market cap when most of the day's symbols have one, so a
    # symbol is never ranked against a different measure than its neighbours.
    traded = (~np.isnan(matrices["dollar_volume_20"])).sum(axis=1)
    use_cap = (~np.isnan(matrices["market_cap_pit"])).sum(axis=1) >= 0.5 * np.maximum(traded, 1)
    row_days = day[rows]
    by_cap = use_cap[row_days]
    same_day = np.where(by_cap[:, None], matrices["market_cap_pit"][row_days], matrices["dollar_volume_20"][row_days])
    own = same_day[np.arange(len(rows)), symbol[rows]]
    with np.errstate(invalid="ignore", divide="ignore"):
        below = (same_day < own[:, None]).sum(axis=1)
        equal = (same_day == own[:, None]).sum(axis=1)
        percentile = (below + (equal + 1) / 2.0) / (~np.isnan(same_day)).sum(axis=1)  # average rank of ties
    percentile = np.where(np.isnan(own), np.nan, percentile)
    basis = np.where(np.isnan(own), None, np.where(by_cap, "market cap", "dollar volume"))
    return percentile, basis
