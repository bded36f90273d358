"""Shariah screen per symbol and day: business activity (``core.activity``), then a standard's ratios.

Islamic index providers (AAOIFI, Dow Jones Islamic Market, S&P Shariah, MSCI Islamic) screen in two
stages: a company whose core business is prohibited is out whatever its balance sheet, and the
others must keep interest-bearing debt, interest-bearing cash and receivables under a share of a
size measure. The standards differ in that measure: today's market cap (AAOIFI), a trailing average
market cap that keeps a price swing from flipping the verdict (DJIM 24 months, S&P 36 months), or
total assets that do not move with the price at all (MSCI).

The screen is point in time: the status of (symbol, D) uses the statement usable on D and the daily
market caps up to D (shares known on each day × that day's close). A signal carries the status of
its own day. A ratio that cannot be computed is UNKNOWN, never a pass. Reasons name the rule, not
the day's figures (those are in the ratio columns), so a status that holds for months stores one
text many times, which DuckDB keeps once.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from emergent_pipeline.core.activity import ActivitySettings, business_activity

STANDARDS = ("AAOIFI", "DJIM", "SP", "MSCI")
STATUSES = ("COMPLIANT", "NON_COMPLIANT", "UNKNOWN")
DEFAULT_STANDARD = "SP"
RATIOS = ("debt", "cash", "receivables")
SCREEN_COLUMNS = [
    "symbol", "date", "status", "standard", "reasons", "activity", "debt_ratio", "cash_ratio", "receivables_ratio",
    "non_permissible_income", "ratio_basis_value", "statement_period_end",
]


@dataclass(frozen=True)
class ShariahSettings:
    """The domain spec's defaults; every one is a parameter. Ratios must stay strictly below their limit."""

    standard: str = DEFAULT_STANDARD
    admit_unknown: bool = False
    strict_activities: bool | None = None  # None: by standard (AAOIFI strict, the others not)
    pork_processors: tuple[str, ...] = ("HRL", "TSN", "SFD")  # Hormel, Tyson Foods, Smithfield
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
    """MSCI screens receivables plus cash against total assets."""

    def __post_init__(self) -> None:
        if self.standard not in STANDARDS:
            raise ValueError(f"unknown Shariah standard {self.standard!r}; valid: {', '.join(STANDARDS)}")

    @property
    def strict(self) -> bool:
        return self.standard == "AAOIFI" if self.strict_activities is None else self.strict_activities

    @property
    def activity(self) -> ActivitySettings:
        return ActivitySettings(self.strict, self.pork_processors, self.adult_entertainment)

    @property
    def limits(self) -> dict[str, float]:
        """Ratio name -> limit of the chosen standard; a ratio a standard does not use is absent."""
        prefix = self.standard.lower()
        names = (*RATIOS, "non_permissible_income")
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


def admitted_statuses(shariah_only: bool, admit_unknown: bool = False) -> tuple[str, ...]:
    """The statuses a policy keeps (all three when the filter is off)."""
    if not shariah_only:
        return STATUSES
    return ("COMPLIANT", "UNKNOWN") if admit_unknown else ("COMPLIANT",)


def trailing_mean(panel: pd.DataFrame, values: np.ndarray, months: int) -> np.ndarray:
    """Per row of ``panel`` (sorted by symbol and date, categorical ``symbol``): the mean of the
    symbol's known ``values`` over the dates in (D - ``months``, D]; NaN where none is known.

    Prefix sums over the sorted panel and one ``searchsorted`` for each row's window start: no loop
    over rows, no symbol × date matrix."""
    values = np.asarray(values, dtype="float64")
    known = ~np.isnan(values)
    sums = np.r_[0.0, np.cumsum(np.where(known, values, 0.0))]
    counts = np.r_[0, np.cumsum(known)]
    dates = pd.DatetimeIndex(panel["date"])
    unique = dates.unique()
    window_start = pd.Series(unique - pd.DateOffset(months=months), index=unique)
    start_day = window_start.reindex(dates).to_numpy(dtype="datetime64[D]").astype("int64")
    codes = panel["symbol"].cat.codes.to_numpy().astype("int64")
    keys = codes * 1_000_000 + dates.to_numpy(dtype="datetime64[D]").astype("int64")
    first = np.searchsorted(keys, codes * 1_000_000 + start_day, side="right")
    last = np.arange(len(panel)) + 1
    count = counts[last] - counts[first]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, (sums[last] - sums[first]) / count, np.nan)


def screen(panel: pd.DataFrame, universe: pd.DataFrame | None, settings: ShariahSettings = ShariahSettings(),
           from_day: pd.Timestamp | None = None) -> pd.DataFrame:
    """One row per panel row (:data:`SCREEN_COLUMNS`) dated ``from_day`` or later (every row without
    it): the status of (symbol, D) with its reasons. The rows before serve the trailing average only,
    so a refresh builds the reasons of its new days, not of the whole look-back.

    ``panel`` is the price panel with the point-in-time fundamentals joined
    (``strategy_panel.join_fundamentals``): ``market_cap_pit``, ``total_debt``, ``total_cash``,
    ``receivables``, ``total_assets``, ``non_permissible_income``, ``fund_period_end``."""
    members = universe if universe is not None and len(universe) else pd.DataFrame({"symbol": pd.Series(dtype=object)})
    activity = business_activity(members.drop_duplicates("symbol"), settings.activity).set_index("symbol")
    symbol = panel["symbol"].astype(str)
    activity_status = symbol.map(activity["activity_status"]).fillna("unknown").to_numpy()
    activity_reason = symbol.map(activity["activity_reason"]).fillna("activity unknown: symbol not in the universe").to_numpy()

    months = settings.average_months
    if settings.standard == "MSCI":
        basis, basis_problem = panel["total_assets"].to_numpy(dtype="float64"), "no total assets"
    elif months is None:
        basis, basis_problem = panel["market_cap_pit"].to_numpy(dtype="float64"), "no market cap (no share count)"
    else:
        basis = trailing_mean(panel, panel["market_cap_pit"].to_numpy(dtype="float64"), months)
        basis_problem = f"no market cap in the last {months} months (no share count)"
    if from_day is not None:
        shown = (panel["date"] >= from_day).to_numpy()
        panel, basis = panel[shown], basis[shown]
        symbol, activity_status, activity_reason = symbol[shown], activity_status[shown], activity_reason[shown]
    basis = np.where(basis > 0, basis, np.nan)

    no_statement = panel["fund_period_end"].isna().to_numpy()
    numerators = {
        "debt": panel["total_debt"].to_numpy(dtype="float64"),
        "cash": panel["total_cash"].to_numpy(dtype="float64"),
        "receivables": panel["receivables"].to_numpy(dtype="float64")
        + (panel["total_cash"].to_numpy(dtype="float64") if settings.standard == "MSCI" else 0.0),
    }
    not_permissible = activity_status != "permissible"
    reasons = [text_where(not_permissible, activity_reason[not_permissible])]
    reasons.append(text_where(no_statement, "no statement usable on this day"))
    failed = activity_status == "prohibited"
    unknown = activity_status == "unknown"
    values = {}
    for name, limit in settings.limits.items():
        if name == "non_permissible_income":
            value = panel["non_permissible_income"].to_numpy(dtype="float64")
            of, problem = "of revenue", "the statements do not report interest and other non-permissible income"
        else:
            with np.errstate(invalid="ignore", divide="ignore"):
                value = numerators[name] / basis
            of = f"of {settings.basis}"
            what = "receivables and cash" if name == "receivables" and settings.standard == "MSCI" else name
            problem = text_where(np.isnan(numerators[name]), f"no {what} in the statement", basis_problem)
        label = "non-permissible income" if name == "non_permissible_income" else f"{name} ratio"
        fails, missing = value >= limit, np.isnan(value)
        reasons.append(text_where(fails, f"{label} at or above {limit * 100:g}% {of}"))
        unknown_here = missing & ~no_statement
        problems = np.broadcast_to(np.asarray(problem, dtype=object), unknown_here.shape)  # one text, or one a row
        reasons.append(text_where(unknown_here, f"{label} unknown: " + problems[unknown_here]))
        failed, unknown, values[name] = failed | fails, unknown | missing, value

    nan = np.full(len(panel), np.nan)
    return pd.DataFrame({
        "symbol": symbol.to_numpy(),
        "date": panel["date"].to_numpy(),
        "status": text_where(failed, "NON_COMPLIANT", text_where(unknown, "UNKNOWN", "COMPLIANT")),
        "standard": settings.standard,
        "reasons": join_texts(reasons, "; "),
        "activity": symbol.map(activity["activity"]).to_numpy(),
        **{f"{n}_ratio": values.get(n, nan) for n in RATIOS},
        "non_permissible_income": values.get("non_permissible_income", nan),
        "ratio_basis_value": basis,
        "statement_period_end": panel["fund_period_end"].to_numpy(),
    })


def newest_day(screened: pd.DataFrame) -> pd.DataFrame:
    """Each symbol's row on the newest date of the panel (symbols without a bar that day are left out)."""
    return screened[screened["date"] == screened["date"].max()]


def newest_day_by_standard(panel: pd.DataFrame, universe: pd.DataFrame | None, settings: ShariahSettings = ShariahSettings()) -> dict[str, dict[str, int]]:
    """Counts per status on the panel's newest day under every standard (the other settings kept),
    computed on the trailing window the longest average needs, not on the whole history."""
    months = max(m for m in (settings.djim_average_months, settings.sp_average_months))
    newest = panel["date"].max()
    recent = panel[panel["date"] > newest - pd.DateOffset(months=months + 1)]
    on_newest = (recent["date"] == newest).to_numpy()
    counts = {}
    for standard in STANDARDS:
        chosen = replace(settings, standard=standard)
        rows = recent[on_newest]
        if chosen.average_months is not None:
            # Only the newest day is screened: its trailing average comes from the window, then stands
            # in for the day's market cap (the standard then reads it as its basis).
            average = trailing_mean(recent, recent["market_cap_pit"].to_numpy(dtype="float64"), chosen.average_months)
            rows = rows.assign(market_cap_pit=average[on_newest])
            chosen = replace(chosen, **{f"{standard.lower()}_average_months": None})
        day = screen(rows, universe, chosen)
        counts[standard] = {s: int((day["status"] == s).sum()) for s in STATUSES}
    return counts


def exclusion_summary(screened: pd.DataFrame, top: int = 10) -> dict:
    """Counts per status and the ``top`` most common reasons of the rows not COMPLIANT, each reason
    cut to its kind (the text before ': ')."""
    counts = screened["status"].value_counts()
    reasons = pd.Series(screened.loc[screened["status"].ne("COMPLIANT"), "reasons"]).str.split("; ").explode()
    kinds = reasons[reasons.fillna("").ne("")].str.split(": ").str[0].value_counts().head(top)
    return {
        "counts": {s: int(counts.get(s, 0)) for s in STATUSES},
        "top_reasons": {str(k): int(v) for k, v in kinds.items()},
    }


def text_where(mask: np.ndarray, text: str | np.ndarray, other: str | np.ndarray = "") -> np.ndarray:
    """``text`` where ``mask`` holds, else ``other``, as an array of references to strings. Not
    ``np.where``: with two strings it makes a fixed-width unicode array, four bytes a character a
    row, and the screen's dozen reason columns took gigabytes on a long history.
    An array ``text`` holds the masked rows' values only, in order."""
    out = np.full(len(mask), other, dtype=object) if isinstance(other, str) else np.array(other, dtype=object)
    out[mask] = text
    return out


def join_texts(parts: list[np.ndarray], sep: str) -> np.ndarray:
    """Element-wise join of the non-empty strings of ``parts`` (vectorised, no loop over rows; only
    the rows a part has text for are touched)."""
    joined = np.asarray(parts[0], dtype=object).copy()
    for part in parts[1:]:
        part = np.asarray(part, dtype=object)
        has = part != ""
        both = has & (joined != "")
        joined[both] = joined[both] + sep + part[both]
        alone = has & ~both
        joined[alone] = part[alone]
    return joined
