"""Shariah screen of the universe: business activity from GICS, then a standard's financial ratios.

Islamic index providers (AAOIFI, Dow Jones Islamic Market, S&P Shariah, MSCI Islamic) screen in two
stages: a company whose core business is prohibited is out whatever its balance sheet, and the
others must keep interest-bearing debt, interest-bearing cash and receivables under a share of a
size measure. The standards differ in that measure: today's market cap (AAOIFI), a trailing average
market cap that keeps a price swing from flipping the verdict (DJIM 24 months, S&P 36 months), or
total assets that do not move with the price at all (MSCI).

A ratio we cannot compute is UNKNOWN, never a pass: a screen that admits what it could not check
would certify the very companies it knows nothing about. Averages use only data known at the
snapshot's ``as_of`` so the verdict of a day never looks ahead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

STANDARDS = ("AAOIFI", "DJIM", "SP", "MSCI")
STATUSES = ("COMPLIANT", "NON_COMPLIANT", "UNKNOWN")

# Prohibited whatever the standard. 'Financial Exchanges & Data' is deliberately absent: exchange and
# data operators earn fees, not interest, and the index providers generally admit them.
CONVENTIONAL_FINANCE = (
    "Diversified Banks", "Regional Banks", "Asset Management & Custody Banks", "Investment Banking & Brokerage",
    "Consumer Finance", "Thrifts & Mortgage Finance", "Mortgage REITs", "Property & Casualty Insurance",
    "Life & Health Insurance", "Multi-line Insurance", "Insurance Brokers", "Reinsurance", "Multi-Sector Holdings",
    "Other Diversified Financial Services", "Specialized Finance", "Diversified Capital Markets",
)
ACTIVITY_BY_SUB_INDUSTRY = dict.fromkeys(CONVENTIONAL_FINANCE, "conventional finance") | {
    "Brewers": "alcohol", "Distillers & Vintners": "alcohol", "Tobacco": "tobacco",
    "Casinos & Gaming": "gambling", "Aerospace & Defense": "defence",
}
# Prohibited only under the strict standards (alcohol and impermissible entertainment on the premises).
STRICT_ACTIVITY_BY_SUB_INDUSTRY = {
    "Hotels, Resorts & Cruise Lines": "hotels and cruise lines",
    "Movies & Entertainment": "entertainment",
}
# Balance-sheet ratio -> its numerator column.
RATIO_INPUTS = {"debt": "total_debt", "cash": "total_cash", "receivables": "receivables"}
BALANCE_COLUMNS = ("total_debt", "total_cash", "receivables", "total_assets", "non_permissible_income_pct")


@dataclass(frozen=True)
class ShariahSettings:
    """The domain spec's defaults; every one is a parameter. Ratios must stay strictly below their limit."""

    standard: str = "AAOIFI"
    admit_unknown: bool = False
    strict_activities: bool | None = None  # None: by standard (AAOIFI strict, the others not)
    # GICS has no pork sub-industry, so the processors we can identify are listed by symbol.
    pork_processors: tuple[str, ...] = ("HRL", "TSN", "SFD")  # Hormel, Tyson Foods, Smithfield
    # Nor an adult-entertainment one; no S&P 500 member is known to need it, hence empty.
    adult_entertainment: tuple[str, ...] = ()
    aaoifi_debt: float = 0.30
    aaoifi_cash: float = 0.30
    aaoifi_non_permissible_income: float = 0.05
    djim_debt: float = 0.33
    djim_cash: float = 0.33
    djim_receivables: float = 0.33
    djim_average_months: int = 24
    sp_debt: float = 0.33
    sp_cash: float = 0.33
    sp_receivables: float = 0.49
    sp_average_months: int = 36
    msci_debt: float = 0.3333
    msci_cash: float = 0.3333
    msci_receivables: float = 0.3333

    def __post_init__(self) -> None:
        if self.standard not in STANDARDS:
            raise ValueError(f"unknown Shariah standard {self.standard!r}; valid: {', '.join(STANDARDS)}")

    @property
    def strict(self) -> bool:
        return self.standard == "AAOIFI" if self.strict_activities is None else self.strict_activities

    @property
    def limits(self) -> dict[str, float]:
        """Ratio name -> limit of the chosen standard; a ratio a standard does not use is absent."""
        prefix = self.standard.lower()
        names = ("debt", "cash", "receivables", "non_permissible_income")
        return {n: getattr(self, f"{prefix}_{n}") for n in names if hasattr(self, f"{prefix}_{n}")}

    @property
    def average_months(self) -> int | None:
        return getattr(self, f"{self.standard.lower()}_average_months", None)

    @property
    def basis(self) -> str:
        if self.standard == "MSCI":
            return "total assets"
        return "market cap" if self.average_months is None else f"{self.average_months}-month average market cap"


def screening_policy(shariah_only: bool, admit_unknown: bool = False) -> str:
    """Plain words for the filter policy applied, so a caller can report it next to the result."""
    if not shariah_only:
        return "off (all symbols kept)"
    return "COMPLIANT or UNKNOWN admitted" if admit_unknown else "COMPLIANT only"


def business_activity(universe: pd.DataFrame, settings: ShariahSettings = ShariahSettings()) -> pd.DataFrame:
    """symbol, activity (prohibited category or None) and activity_reason (text or None).

    The sub-industry decides; where it is missing a 'Financials' sector is taken as conventional finance,
    the bulk of that sector, and the reason says it was inferred.
    """
    sub = universe["sub_industry"] if "sub_industry" in universe else pd.Series(np.nan, index=universe.index)
    sector = universe["sector"] if "sector" in universe else pd.Series(np.nan, index=universe.index)
    mapping = ACTIVITY_BY_SUB_INDUSTRY | (STRICT_ACTIVITY_BY_SUB_INDUSTRY if settings.strict else {})
    by_sub = sub.map(mapping)
    strict_note = np.where(sub.isin(list(STRICT_ACTIVITY_BY_SUB_INDUSTRY)), " (strict activity screen)", "")
    conditions = [
        by_sub.notna(),
        universe["symbol"].isin(settings.pork_processors),
        universe["symbol"].isin(settings.adult_entertainment),
        sub.isna() & sector.eq("Financials"),
    ]
    labels = [by_sub, "pork", "adult entertainment", "conventional finance"]
    details = [
        "sub-industry '" + sub.astype(str) + "'" + strict_note,
        "listed pork processor",
        "listed adult-entertainment company",
        "inferred from sector 'Financials' (sub-industry missing)",
    ]
    activity = pd.Series(np.select(conditions, labels, default=None), index=universe.index, dtype=object)
    detail = pd.Series(np.select(conditions, details, default=""), index=universe.index, dtype=object)
    reason = ("prohibited activity " + activity.fillna("") + ": " + detail).where(activity.notna(), None)
    frame = pd.DataFrame({"symbol": universe["symbol"], "activity": activity, "activity_reason": reason})
    return frame.reset_index(drop=True)


def screen(
    universe: pd.DataFrame,
    fundamentals: pd.DataFrame,
    settings: ShariahSettings = ShariahSettings(),
    prices: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per universe symbol: symbol, status, standard, reasons ('' when compliant), activity,
    debt_ratio, cash_ratio, receivables_ratio, non_permissible_income (NaN when unknown or not used by
    the standard), ratio_basis and fundamentals_as_of, from each symbol's newest snapshot."""
    fundamentals = fundamentals.assign(as_of=pd.to_datetime(fundamentals["as_of"]))
    latest = fundamentals.sort_values("as_of").drop_duplicates("symbol", keep="last")
    latest = latest.reindex(columns=["symbol", "as_of", "market_cap", *BALANCE_COLUMNS])
    data = business_activity(universe.drop_duplicates("symbol"), settings).merge(latest, on="symbol", how="left")

    denominator, denominator_problem = _denominator(data, fundamentals, prices, settings)
    usable = denominator > 0
    reasons = [data["activity_reason"].fillna(""), _text(data["as_of"].isna(), "no fundamentals snapshot")]
    failed, unknown, values = data["activity"].notna(), False, {}
    for name, limit in settings.limits.items():
        column = RATIO_INPUTS.get(name, "non_permissible_income_pct")
        numerator = data[column].astype("float64")
        problem = _text(numerator.isna(), f"no {column}")
        if name == "non_permissible_income":  # already a share of revenue: no denominator
            value, label, of = numerator, "non-permissible income", "of revenue"
        else:
            value = (numerator / denominator).where(usable)
            label, of = f"{name} ratio", f"of {settings.basis}"
            problem = _join([problem, denominator_problem], ", ")
        fails, missing = value >= limit, value.isna()
        shown = (value * 100).round(1).astype(str)
        reasons.append(_text(fails, f"{label} fails: " + shown + f"% {of}, must be below {limit * 100:g}%"))
        reasons.append(_text(missing, f"{label} unknown: " + problem))
        failed, unknown, values[name] = failed | fails, unknown | missing, value

    nan = pd.Series(np.nan, index=data.index)
    status = np.select([failed, unknown], ["NON_COMPLIANT", "UNKNOWN"], default="COMPLIANT")
    return pd.DataFrame(
        {
            "symbol": data["symbol"],
            "status": status,
            "standard": settings.standard,
            "reasons": _join(reasons, "; ").astype(str),
            "activity": data["activity"],
            **{f"{n}_ratio": values.get(n, nan) for n in RATIO_INPUTS},
            "non_permissible_income": values.get("non_permissible_income", nan),
            "ratio_basis": settings.basis,
            "fundamentals_as_of": data["as_of"],
        }
    )


def filter_compliant(
    frame: pd.DataFrame, screen_frame: pd.DataFrame, shariah_only: bool, admit_unknown: bool = False
) -> pd.DataFrame:
    """Rows of ``frame`` the policy admits (see ``screening_policy``); a symbol the screen never saw is UNKNOWN."""
    if not shariah_only:
        return frame
    status = frame["symbol"].map(screen_frame.set_index("symbol")["status"]).fillna("UNKNOWN")
    allowed = ["COMPLIANT", "UNKNOWN"] if admit_unknown else ["COMPLIANT"]
    return frame[status.isin(allowed).to_numpy()]


def exclusion_summary(screen_frame: pd.DataFrame, top: int = 10) -> dict:
    """Counts per status and the ``top`` most common reasons of the rows not COMPLIANT, each reason cut
    to its kind (the text before ': ', e.g. 'debt ratio unknown') so figures do not split the count."""
    counts = screen_frame["status"].value_counts()
    reasons = screen_frame.loc[screen_frame["status"].ne("COMPLIANT"), "reasons"].str.split("; ").explode()
    kinds = reasons[reasons.fillna("").ne("")].str.split(": ").str[0].value_counts().head(top)
    return {
        "counts": {s: int(counts.get(s, 0)) for s in STATUSES},
        "top_reasons": {str(k): int(v) for k, v in kinds.items()},
    }


def _average_market_cap(
    data: pd.DataFrame, fundamentals: pd.DataFrame, prices: pd.DataFrame | None, months: int
) -> pd.Series:
    """Trailing ``months`` average market cap per symbol, as known at its snapshot's as_of.

    With prices: shares = market_cap / close at as_of (last close on or before it), times the mean close
    of the window (as_of - months, as_of]. Otherwise, or for a symbol without prices in the window: the
    mean market_cap of two or more snapshots in that window. A partial window (recent listing) averages
    what exists, as the index providers do.
    """
    anchors = data.loc[data["as_of"].notna(), ["symbol", "as_of", "market_cap"]]
    anchors = anchors.assign(start=anchors["as_of"] - pd.DateOffset(months=months))
    average = pd.Series(dtype="float64")
    if prices is not None:
        window = prices[["symbol", "date", "close"]].assign(date=lambda p: pd.to_datetime(p["date"]))
        window = window.merge(anchors, on="symbol")
        window = window[(window["date"] > window["start"]) & (window["date"] <= window["as_of"])].dropna(subset="close")
        by_symbol = window.sort_values("date").groupby("symbol")
        shares = by_symbol["market_cap"].last() / by_symbol["close"].last()
        average = (shares * by_symbol["close"].mean()).dropna()
    snapshots = fundamentals[["symbol", "as_of", "market_cap"]].merge(anchors, on="symbol", suffixes=("", "_anchor"))
    snapshots = snapshots[(snapshots["as_of"] > snapshots["start"]) & (snapshots["as_of"] <= snapshots["as_of_anchor"])]
    caps = snapshots.dropna(subset="market_cap").groupby("symbol")["market_cap"].agg(["mean", "count"])
    return average.combine_first(caps.loc[caps["count"] >= 2, "mean"].astype("float64"))


def _denominator(
    data: pd.DataFrame, fundamentals: pd.DataFrame, prices: pd.DataFrame | None, settings: ShariahSettings
) -> tuple[pd.Series, pd.Series]:
    """The standard's size measure per row and why it is unusable ('' where it is usable)."""
    months = settings.average_months
    if settings.standard == "MSCI":
        value, name, absent = data["total_assets"], "total_assets", "no total_assets"
    elif months is None:
        value, name, absent = data["market_cap"], "market_cap", "no market_cap"
    else:
        value = data["symbol"].map(_average_market_cap(data, fundamentals, prices, months))
        name = f"{months}-month average market cap"
        absent = f"no {name} (no prices, nor 2+ snapshots, in window)"
    value = value.astype("float64")
    return value, _text(value.isna(), absent).mask(value <= 0, f"{name} not positive")


def _text(mask: pd.Series, text: str | pd.Series) -> pd.Series:
    """``text`` where ``mask`` holds, '' elsewhere."""
    return pd.Series(np.where(mask, text, ""), index=mask.index, dtype=object)


def _join(parts: list[pd.Series], sep: str) -> pd.Series:
    """Element-wise join of the non-empty strings of ``parts`` (vectorised, no loop over rows)."""
    joined = pd.Series("", index=parts[0].index, dtype=object)
    for part in parts:
        part = part.astype(object)
        joined = joined + np.where(joined.ne("") & part.ne(""), sep, "") + part
    return joined
