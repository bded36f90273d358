"""Company fundamentals, point in time and on the price's share basis.

Every source hands over *statements* in one canonical shape (:data:`STATEMENT_COLUMNS`): one row per
(symbol, kind, period_end) with income items over the twelve months to ``period_end`` and balance
items at ``period_end``. A *snapshot* (a vendor's "as of today" page, such as the bundled
2018-02-08 one or yfinance's ``info``) is a statement of kind ``snapshot`` whose period ends, and
which is filed, on its own date.

Two traps stand between a statement and a ratio on day D:

* **When it was known.** A statement is usable from its availability day, the filing date where the
  source has one, else period end + a filing lag (default 90 days, the latest 10-K deadline), and it
  stays usable until a newer one is available or it is older than a maximum age (default 15 months).
  Nothing filed after D reaches D.
* **Which share basis.** Statement EPS and share counts are on the share basis of their filing; the
  prices are split-adjusted to the newest day. AAPL's FY2013 EPS is 40.03 on 925 M shares, before its
  7-for-1 split of 2014: against a split-adjusted close of 76.68 that is a P/E of 1.9 instead of 13.4.
  :func:`align_share_basis` puts both on the price's basis. Where the source gives a split history
  (yfinance does), that history is the truth; where it does not (the bundled statements), splits are
  *inferred* from the share counts: a jump between consecutive statements within ``tolerance`` of a
  usual split ratio (3:2, 2, 3, 4, 5, 7, 8, 10) is a split, and the step from the newest statement
  to the newest snapshot (whose shares are on the price basis by construction) counts only if book
  value per share fell by the same ratio, so that a merger paid in shares, which brings its own
  equity, is not taken for a split. The inferred splits are listed in the asset metadata; share
  counts derived from a misprinted EPS can still look like a split, and reverse splits are not
  inferred (a buy-back looks the same).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

KINDS = ("annual", "quarterly", "snapshot")
FIELDS = [
    "revenue", "net_income", "ebitda", "eps", "shares", "total_debt", "total_cash", "receivables", "total_assets",
    "total_equity", "non_permissible_income",
]
"""Income items (revenue, net_income, ebitda, eps) cover the twelve months to period_end; balance
items are at period_end. ``total_debt`` is interest-bearing debt, ``total_cash`` cash plus
interest-bearing short-term investments, ``non_permissible_income`` a share of revenue (no bundled
source has it). ``shares`` and ``eps`` are on the statement's own share basis until aligned."""
STATEMENT_COLUMNS = ["symbol", "kind", "period_end", "filed", *FIELDS]
POINT_IN_TIME_COLUMNS = [
    "symbol", "kind", "period_end", "available_from", "usable_until", *FIELDS, "eps_growth", "revenue_growth",
    "split_factor", "shares_from_period_end",
]
SPLIT_RATIOS = (1.5, 2.0, 3.0, 4.0, 5.0, 7.0, 8.0, 10.0)


@dataclass(frozen=True)
class AvailabilityParams:
    """When a statement may be used (domain spec defaults)."""

    filing_lag_days: int = 90
    max_age_months: int = 15
    split_tolerance: float = 0.10
    """A share-count jump within this relative distance of a usual split ratio is a split."""
    book_tolerance: float = 0.25
    """For the step to the newest snapshot: book value per share must fall by the split ratio within this."""


class FundamentalsError(ValueError):
    """Statements that cannot be used as given (missing columns, unparseable dates)."""


def empty_statements() -> pd.DataFrame:
    columns = {c: pd.Series(dtype="float64") for c in STATEMENT_COLUMNS}
    columns |= {"symbol": pd.Series(dtype="object"), "kind": pd.Series(dtype="object"),
                "period_end": pd.Series(dtype="datetime64[ns]"), "filed": pd.Series(dtype="datetime64[ns]")}
    return pd.DataFrame(columns)


def empty_point_in_time() -> pd.DataFrame:
    frame = empty_statements().drop(columns="filed")
    for column in ("available_from", "usable_until", "shares_from_period_end"):
        frame[column] = pd.Series(dtype="datetime64[ns]")
    for column in ("eps_growth", "revenue_growth", "split_factor"):
        frame[column] = pd.Series(dtype="float64")
    return frame[POINT_IN_TIME_COLUMNS]


def canonical(statements: pd.DataFrame) -> pd.DataFrame:
    """``statements`` with every canonical column (missing ones empty), typed, sorted, one row per
    (symbol, kind, period_end) (the last given wins); an unusable frame is a :class:`FundamentalsError`."""
    missing = [c for c in ("symbol", "period_end") if c not in statements.columns]
    if missing:
        raise FundamentalsError(f"fundamentals need the columns {missing}; they have {list(statements.columns)}")
    frame = statements.copy()
    for column in STATEMENT_COLUMNS:
        if column not in frame.columns:
            frame[column] = "annual" if column == "kind" else np.nan
    frame["symbol"] = frame["symbol"].astype(str).str.strip().str.upper()
    for column in ("period_end", "filed"):
        parsed = pd.to_datetime(frame[column], errors="coerce", format="mixed")
        bad = parsed.isna() & frame[column].notna()
        if bad.any():
            example = frame.loc[bad, column].iloc[0]
            raise FundamentalsError(f"{int(bad.sum())} fundamentals rows have an unreadable {column} (e.g. {example!r})")
        frame[column] = parsed.astype("datetime64[ns]")
    if frame["period_end"].isna().any():
        raise FundamentalsError(f"{int(frame['period_end'].isna().sum())} fundamentals rows have no period_end")
    unknown_kinds = set(frame["kind"].dropna()) - set(KINDS)
    if unknown_kinds:
        raise FundamentalsError(f"unknown statement kinds {sorted(unknown_kinds)}; valid: {', '.join(KINDS)}")
    for column in FIELDS:
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    frame = frame.sort_values(["symbol", "period_end", "kind"], kind="mergesort")
    frame = frame.drop_duplicates(["symbol", "kind", "period_end"], keep="last")
    return frame[STATEMENT_COLUMNS].reset_index(drop=True)


def statements_from_snapshot(snapshot: pd.DataFrame) -> pd.DataFrame:
    """Canonical rows from a valuation snapshot (``symbol, as_of, price, eps, market_cap, price_book,
    price_sales, ebitda`` and optional balance items): everything on the snapshot price's basis.
    Shares = market cap / price, book = market cap / P/B, revenue = market cap / P/S."""
    frame = snapshot.copy()
    get = lambda column: frame[column].astype("float64") if column in frame else pd.Series(np.nan, index=frame.index)  # noqa: E731
    with np.errstate(divide="ignore", invalid="ignore"):
        shares = (get("market_cap") / get("price")).where(get("price") > 0)
        rows = pd.DataFrame({
            "symbol": frame["symbol"], "kind": "snapshot", "period_end": pd.to_datetime(frame["as_of"]),
            "filed": pd.to_datetime(frame["as_of"]), "eps": get("eps"), "shares": shares,
            "net_income": get("eps") * shares, "revenue": (get("market_cap") / get("price_sales")).where(get("price_sales") > 0),
            "total_equity": (get("market_cap") / get("price_book")).where(get("price_book") > 0), "ebitda": get("ebitda"),
        })
    for column in ("total_debt", "total_cash", "receivables", "total_assets", "non_permissible_income"):
        rows[column] = get(column)
    return canonical(rows)


def availability(statements: pd.DataFrame, params: AvailabilityParams = AvailabilityParams()) -> tuple[pd.Series, pd.Series]:
    """(available_from, usable_until) per statement: filed, else period end + the filing lag; usable
    for ``max_age_months`` after that (a newer statement takes over earlier, in the as-of join)."""
    lagged = statements["period_end"] + pd.Timedelta(days=params.filing_lag_days)
    available = statements["filed"].fillna(lagged).where(statements["kind"] != "snapshot", statements["filed"].fillna(statements["period_end"]))
    return available, available + pd.DateOffset(months=params.max_age_months)


def _nearest_split(ratio: np.ndarray, tolerance: float) -> np.ndarray:
    """The usual split ratio each ``ratio`` is within ``tolerance`` of (relative, in log terms), else 1."""
    ratios = np.asarray(SPLIT_RATIOS)
    with np.errstate(divide="ignore", invalid="ignore"):
        distance = np.abs(np.log(np.asarray(ratio, dtype="float64"))[:, None] - np.log(ratios)[None, :])
    distance = np.where(np.isnan(distance), np.inf, distance)
    best = distance.argmin(axis=1) if len(ratio) else np.array([], dtype=int)
    close = distance[np.arange(len(best)), best] <= np.log1p(tolerance)
    return np.where(close, ratios[best], 1.0)


def infer_splits(statements: pd.DataFrame, params: AvailabilityParams = AvailabilityParams()) -> pd.DataFrame:
    """Splits inferred from share counts: ``symbol, after, until, ratio`` (the split happened after the
    statement ending ``after`` and by the one ending ``until``; ratio new shares per old share).

    Consecutive statements with a share count (annual and quarterly alike) are compared by their share
    ratio alone; the step to the newest snapshot also needs book value per share to fall by the same
    ratio (see the module docstring)."""
    known = statements[(statements["shares"] > 0)].sort_values(["symbol", "period_end"], kind="mergesort")
    reported, snapshots = known[known["kind"] != "snapshot"], known[known["kind"] == "snapshot"]
    previous = reported.groupby("symbol")[["period_end", "shares"]].shift(1)
    steps = pd.DataFrame({"symbol": reported["symbol"], "after": previous["period_end"], "until": reported["period_end"],
                          "ratio": _nearest_split((reported["shares"] / previous["shares"]).to_numpy(), params.split_tolerance)})
    newest = reported.drop_duplicates("symbol", keep="last").set_index("symbol")
    reference = snapshots.drop_duplicates("symbol", keep="last").set_index("symbol")
    pair = newest.join(reference, rsuffix="_ref", how="inner")
    pair = pair[pair["period_end_ref"] > pair["period_end"]]
    with np.errstate(divide="ignore", invalid="ignore"):
        share_ratio = _nearest_split((pair["shares_ref"] / pair["shares"]).to_numpy(), params.split_tolerance)
        book_ratio = (pair["total_equity"] / pair["shares"]) / (pair["total_equity_ref"] / pair["shares_ref"])
        book_agrees = np.abs(np.log(book_ratio.to_numpy() / share_ratio)) <= np.log1p(params.book_tolerance)
    to_snapshot = pd.DataFrame({"symbol": pair.index, "after": pair["period_end"].to_numpy(), "until": pair["period_end_ref"].to_numpy(),
                                "ratio": np.where(book_agrees, share_ratio, 1.0)})
    splits = pd.concat([steps, to_snapshot], ignore_index=True)
    return splits[splits["ratio"] != 1.0].sort_values(["symbol", "until"]).reset_index(drop=True)


def split_factors(statements: pd.DataFrame, splits: pd.DataFrame) -> np.ndarray:
    """For each statement, the product of the split ratios dated after its period end: its shares
    times this (and its EPS divided by it) are on the basis of the newest prices.

    ``splits`` has ``symbol``, ``until`` (the split took effect on or before this day, after the
    statement's period end) and ``ratio``; a yfinance split history gives the split date itself."""
    factor = np.ones(len(statements))
    if splits.empty or statements.empty:
        return factor
    merged = statements[["symbol", "period_end"]].reset_index(drop=True).reset_index().merge(splits[["symbol", "until", "ratio"]], on="symbol")
    later = merged[merged["until"] > merged["period_end"]]
    product = later["ratio"].astype("float64").groupby(later["index"]).prod()
    factor[product.index.to_numpy()] = product.to_numpy()
    return factor


def align_share_basis(statements: pd.DataFrame, splits: pd.DataFrame | None = None,
                      params: AvailabilityParams = AvailabilityParams()) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Statements with ``eps`` and ``shares`` on the price basis, ``split_factor`` per row, and the
    splits applied (given, or inferred when ``splits`` is None). Snapshots are already on it."""
    if splits is None:
        splits = infer_splits(statements, params)
    factor = np.where(statements["kind"].to_numpy() == "snapshot", 1.0, split_factors(statements, splits))
    aligned = statements.assign(eps=statements["eps"] / factor, shares=statements["shares"] * factor, split_factor=factor)
    return aligned, splits


def carry_share_counts(statements: pd.DataFrame) -> pd.DataFrame:
    """A statement without a share count takes the one of the symbol's previous statement (already on
    the price basis), and ``shares_from_period_end`` says whose count it is.

    Without a share count there is no market cap, so no Shariah ratio and no size rank. A share count
    moves slowly (buy-backs, issues), so the previous statement's is a fair, point-in-time stand-in
    for one statement; it is carried over one gap only, never further."""
    ordered = statements.sort_values(["symbol", "period_end"], kind="mergesort")
    own = ordered["period_end"].where(ordered["shares"] > 0)
    previous_shares = ordered.groupby("symbol")["shares"].shift(1)
    previous_from = ordered.groupby("symbol")["period_end"].shift(1).where(previous_shares > 0)
    carried = ~(ordered["shares"] > 0) & (previous_shares > 0)
    ordered = ordered.assign(
        shares=ordered["shares"].where(~carried, previous_shares),
        shares_from_period_end=own.where(~carried, previous_from),
    )
    return ordered.loc[statements.index]


def growth(statements: pd.DataFrame, column: str) -> pd.Series:
    """Year-on-year growth of ``column`` against the symbol's statement of the same kind whose period
    ended 10 to 14 months earlier, relative to the size of the earlier value (so a loss turning into
    a profit counts as growth); missing where there is no such statement or its value is 0."""
    base = statements[["symbol", "kind", "period_end", column]].reset_index()
    base["target"] = base["period_end"] - pd.DateOffset(months=12)
    earlier = base[["symbol", "kind", "period_end", column]].rename(columns={"period_end": "earlier_end", column: "earlier"})
    matched = pd.merge_asof(
        base.sort_values("target"), earlier.sort_values("earlier_end"), left_on="target", right_on="earlier_end",
        by=["symbol", "kind"], direction="nearest", tolerance=pd.Timedelta(days=62),
    ).set_index("index").reindex(statements.index)
    with np.errstate(divide="ignore", invalid="ignore"):
        change = (matched[column] - matched["earlier"]) / matched["earlier"].abs()
    return change.where(matched["earlier"].ne(0) & matched["earlier"].notna())


def point_in_time(statements: pd.DataFrame, params: AvailabilityParams = AvailabilityParams(),
                  splits: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The statements made ready for an as-of join: on the price's share basis (``splits`` given or
    inferred), share counts carried over one gap, year-on-year EPS and revenue growth, and each row's
    ``available_from`` / ``usable_until``. Returns the rows (:data:`POINT_IN_TIME_COLUMNS`) and the
    splits used."""
    if statements is None or statements.empty:
        return empty_point_in_time(), pd.DataFrame(columns=["symbol", "after", "until", "ratio"])
    frame = canonical(statements)
    frame, used = align_share_basis(frame, splits, params)
    frame = carry_share_counts(frame)
    frame["eps_growth"] = growth(frame, "eps")
    frame["revenue_growth"] = growth(frame, "revenue")
    frame["available_from"], frame["usable_until"] = availability(frame, params)
    frame = frame.sort_values(["symbol", "available_from", "period_end"], kind="mergesort").reset_index(drop=True)
    return frame[POINT_IN_TIME_COLUMNS], used


def as_of_rows(panel_codes: np.ndarray, panel_days: np.ndarray, symbols: pd.Index, rows: pd.DataFrame) -> np.ndarray:
    """For each panel row (symbol code, day as datetime64[D] integer), the position in ``rows`` of the
    symbol's statement usable that day: the newest available on or before it, if still within its
    ``usable_until``; -1 where none.

    Keys are (symbol code, day) packed into one integer, so one ``searchsorted`` finds every row."""
    if rows.empty:
        return np.full(len(panel_codes), -1)
    codes = symbols.get_indexer(rows["symbol"].astype(str))
    available = rows["available_from"].to_numpy(dtype="datetime64[D]").astype("int64")
    packed = np.where(codes >= 0, codes.astype("int64") * 1_000_000 + available, -1)
    order = np.argsort(packed, kind="mergesort")
    position = np.searchsorted(packed[order], panel_codes.astype("int64") * 1_000_000 + panel_days, side="right") - 1
    found = position >= 0
    chosen = order[np.where(found, position, 0)]
    until = rows["usable_until"].to_numpy(dtype="datetime64[D]").astype("int64")
    found &= (codes[chosen] == panel_codes) & (panel_days <= until[chosen])
    return np.where(found, chosen, -1)


def merge_statements(stored: pd.DataFrame | None, fresh: pd.DataFrame) -> pd.DataFrame:
    """The stored statements with the fresh ones added; a fresh (symbol, kind, period) replaces the stored one."""
    if stored is None or stored.empty:
        return fresh
    if fresh.empty:
        return canonical(stored)
    base = canonical(stored)
    key = pd.MultiIndex.from_frame(fresh[["symbol", "kind", "period_end"]])
    kept = base.loc[~pd.MultiIndex.from_frame(base[["symbol", "kind", "period_end"]]).isin(key)]
    return canonical(pd.concat([kept, fresh], ignore_index=True))
