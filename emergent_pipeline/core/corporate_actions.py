"""Corporate actions in daily bars: splits, bonus issues and consolidations, detected by a rule or listed in a file.

A bar series on two share bases is a lie to every indicator and every outcome: an Indian 1:3 bonus
issue (one new share for every three held) drops the price to 3/4 overnight, and a signal issued
before it looks like a 25 % stop-out. Vendors that adjust (Yahoo) hide it; exchange bhavcopies and
many files do not.

**The file first.** A corporate-actions file (``symbol, ex_date, ratio``, ratio = shares after per
share before: 2 for a 1:1 bonus or a 2-for-1 split, 4/3 or ``4:3`` for a 1:3 bonus, 0.1 for a 1:10
consolidation) is the source of truth where the user has one: each listed action is applied as given.

**The rule for the rest.** A day is a corporate action the prices were not adjusted for when all hold:

- *the ratio*: the previous close over the day's close, allowing for the market's move that day, and
  the previous close over the day's open (raw or market-adjusted), both sit within a tolerance of a
  ratio corporate actions produce — a bonus issue n:m ((n+m)/m, n, m ≤ 5), a k-for-1 split (k ≤ 25,
  50, 100) or the inverse of one (a consolidation). The close is allowed a whole day's idiosyncratic
  move (3 %), the open an overnight one (3 %);
- *the volume*: shares outstanding are multiplied by the ratio, and so is the number traded: the
  median volume from the day on (its first ``volume_days`` days, as many as there are) moves at least
  half the ratio's way from the median of the ``volume_days`` before (in logs), while the day itself is
  no panic (at most ``max_day_volume`` × the ratio × the median before: a crash trades 5 to 35 times
  its usual volume). A special dividend or a spin-off drops the price without changing the share
  count, and a crash of a third trades in panic: neither passes;
- *the adjacent days*: the new level holds: no close of the next ``reversal_days`` days returns within
  the tolerance to the old level (a one-day bad print does).

Without volumes the rule cannot confirm, and does not adjust. A move the rule does not explain stays
in the prices, and the checks and the labels treat a large one as suspect (``price_quality``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from emergent_pipeline.core.ohlcv import PRICE_COLUMNS, in_key_order

ACTION_COLUMNS = ["symbol", "ex_date", "ratio"]


class CorporateActionsError(ValueError):
    """A corporate-actions file that cannot be applied as it stands."""


@dataclass(frozen=True)
class SplitRule:
    close_tolerance: float = 0.03
    open_tolerance: float = 0.03
    volume_days: int = 20
    min_volume_shift: float = 0.5
    """The volume's log shift must reach this share of the ratio's log."""
    max_day_volume: float = 1.5
    reversal_days: int = 5


def action_ratios(max_bonus_part: int = 5, max_split: int = 25) -> np.ndarray:
    """Every ratio (shares after per share before, above 1) a bonus issue n:m with n, m ≤ ``max_bonus_part``
    or a k-for-1 split with k ≤ ``max_split`` (or 50, 100) produces, ascending; a consolidation is the inverse."""
    bonus = {(n + m) / m for n in range(1, max_bonus_part + 1) for m in range(1, max_bonus_part + 1)}
    splits = {float(k) for k in (*range(2, max_split + 1), 50, 100)}
    return np.array(sorted(bonus | splits))


RATIOS = action_ratios()


def _market_log_move(ordered: pd.DataFrame, close_logs: np.ndarray, benchmark: pd.DataFrame | None) -> np.ndarray:
    """The market's log move on each row's day: the index's, else the median symbol's (an equal-weight
    index would move with the very jump it is meant to rule out)."""
    if benchmark is not None and len(benchmark):
        index = benchmark.set_index("date")["close"].sort_index()
        market = np.log(index / index.shift(1))
    else:
        market = pd.Series(-close_logs, index=ordered["date"].to_numpy()).groupby(level=0).median()
    return market.reindex(ordered["date"]).fillna(0.0).to_numpy()


def _windowed_median(values: np.ndarray, symbols: np.ndarray, rows: np.ndarray, window: int, forward: bool) -> np.ndarray:
    """At each of ``rows`` (positions in a table sorted by symbol, then date): the median of the
    ``window`` values of the same symbol before it (at least ``window // 2`` of them known), or
    (``forward``) of the row and the ``window - 1`` after it (at least one known); ``symbols`` are the
    rows' symbol codes. Only the asked rows are computed: the rule needs the volumes around its few
    candidates, not around every bar."""
    offsets = np.arange(window) if forward else -np.arange(window, 0, -1)
    positions = rows[:, None] + offsets[None, :]
    inside = (positions >= 0) & (positions < len(values))
    clipped = np.clip(positions, 0, max(len(values) - 1, 0))
    window_values = np.where(inside & (symbols[clipped] == symbols[rows][:, None]), values[clipped], np.nan)
    known = np.isfinite(window_values).sum(axis=1)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a window with nothing known: NaN, as intended
        median = np.nanmedian(window_values, axis=1) if len(rows) else np.empty(0)
    return np.where(known >= (1 if forward else window // 2), median, np.nan)


def _nearest_ratio_log(move: np.ndarray) -> np.ndarray:
    """The log of the action ratio (:data:`RATIOS`) nearest to each log ``move``, with its sign (0 for NaN)."""
    logs = np.log(RATIOS)
    size = np.abs(np.nan_to_num(move))
    upper = np.clip(np.searchsorted(logs, size), 0, len(logs) - 1)
    lower = np.maximum(upper - 1, 0)
    nearest = np.where(np.abs(size - logs[lower]) <= np.abs(logs[upper] - size), logs[lower], logs[upper])
    return nearest * np.sign(np.nan_to_num(move))


def split_jumps(prices: pd.DataFrame, benchmark: pd.DataFrame | None, rule: SplitRule = SplitRule(),
                judged_whole_only: bool = False) -> pd.DataFrame:
    """The days the rule (module docstring) takes for a corporate action the prices were not adjusted
    for. Rows: symbol, date, previous_close, open, close, ratio (shares after per share before: > 1 a
    split or bonus, < 1 a consolidation), index_move, volume_shift (median volume after / before).

    ``judged_whole_only``, for ``prices`` that are the recent days of a longer history: only the
    days with ``rule.volume_days`` bars of their symbol before them, judged as the whole history
    judges them (a day nearer the start would have a median of fewer volumes, another verdict)."""
    ordered, symbols = _in_symbol_order(prices[["symbol", "date", "open", "close", "volume"]])
    first_of_symbol = np.r_[True, symbols[1:] != symbols[:-1]] | (symbols < 0)  # a missing symbol has no previous bar
    previous = np.r_[np.nan, ordered["close"].to_numpy()[:-1]]
    previous[first_of_symbol] = np.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        at_close = np.log(previous / ordered["close"].to_numpy())
        at_open = np.log(previous / ordered["open"].to_numpy())
    market = _market_log_move(ordered, at_close, benchmark)
    residual = at_close + market  # the close's fall beyond the market's
    nearest = _nearest_ratio_log(residual)
    close_fits = np.abs(residual - nearest) <= np.log1p(rule.close_tolerance)
    open_fits = np.minimum(np.abs(at_open - nearest), np.abs(at_open + market - nearest)) <= np.log1p(rule.open_tolerance)
    priced = np.flatnonzero(close_fits & open_fits & np.isfinite(residual) & (nearest != 0))
    volume = ordered["volume"].to_numpy(dtype="float64")
    before = _windowed_median(volume, symbols, priced, rule.volume_days, forward=False)
    after = _windowed_median(volume, symbols, priced, rule.volume_days, forward=True)
    ratio_log = nearest[priced]
    with np.errstate(divide="ignore", invalid="ignore"):
        shift = np.log(after / before)
        volume_fits = (shift / ratio_log >= rule.min_volume_shift) & (volume[priced] <= rule.max_day_volume * np.exp(np.abs(ratio_log)) * before)
    if judged_whole_only:
        position = np.arange(len(ordered))
        bars_before = position - np.maximum.accumulate(np.where(first_of_symbol, position, 0))
        volume_fits &= bars_before[priced] >= rule.volume_days
    candidates, shift = priced[volume_fits], shift[volume_fits]
    held = ~_reverts(ordered["close"].to_numpy(), symbols, previous, candidates, rule)
    found = candidates[held]
    rows = ordered.loc[found, ["symbol", "date", "open", "close"]].copy()
    rows.insert(2, "previous_close", previous[found])
    rows["ratio"] = np.exp(nearest[found])
    rows["index_move"] = np.expm1(market[found])
    rows["volume_shift"] = np.exp(shift[held])
    return rows.reset_index(drop=True)


def _in_symbol_order(prices: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """(``prices`` ordered by symbol, then date, stable, with a fresh index; each row's symbol code,
    equal codes for equal symbols). Validated bars come in that order already: then they are not
    sorted (or copied) again, which on a whole history cost seconds and a second copy of it."""
    codes, uniques = pd.factorize(prices["symbol"])
    days = prices["date"].to_numpy(dtype="datetime64[ns]").view("int64")
    if pd.Index(uniques).is_monotonic_increasing and in_key_order(codes, days):
        return prices.reset_index(drop=True), codes
    ordered = prices.sort_values(["symbol", "date"], kind="mergesort").reset_index(drop=True)
    return ordered, pd.factorize(ordered["symbol"])[0]


ADJUSTMENT_PASSES = 3
"""At most this many rounds of finding and adjusting: adjusting one action rescales the volumes
around the next (a bonus eight days after a split is judged on volumes half of them pre-split), so
the adjusted prices can show an action the raw ones hid."""


def adjust_detected_splits(prices: pd.DataFrame, benchmark: pd.DataFrame | None, found: pd.DataFrame,
                           rule: SplitRule = SplitRule()) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(prices, jumps): ``prices`` adjusted for the jumps ``found`` on them, then for those the rule
    finds on the adjusted prices, until it finds none (at most :data:`ADJUSTMENT_PASSES` rounds);
    every jump adjusted, in the order found. What remains after the last round is left to the check."""
    rounds = [found]
    for _ in range(ADJUSTMENT_PASSES):
        if rounds[-1].empty:
            break
        prices = adjust_for_splits(prices, rounds[-1])
        if len(rounds) < ADJUSTMENT_PASSES:
            rounds.append(split_jumps(prices, benchmark, rule))
    return prices, pd.concat(rounds, ignore_index=True)


def _reverts(closes: np.ndarray, symbols: np.ndarray, previous: np.ndarray, candidates: np.ndarray, rule: SplitRule) -> np.ndarray:
    """Whether a close of the next ``reversal_days`` days of the same symbol (``symbols``: codes)
    returns within the close tolerance to the level before the jump (a bad print, not a new share basis)."""
    back = np.zeros(len(candidates), dtype=bool)
    for offset in range(1, rule.reversal_days + 1):
        later = np.minimum(candidates + offset, len(closes) - 1)
        same = (candidates + offset < len(closes)) & (symbols[later] == symbols[candidates])
        with np.errstate(divide="ignore", invalid="ignore"):
            back |= same & (np.abs(np.log(closes[later] / previous[candidates])) <= np.log1p(rule.close_tolerance))
    return back


def parse_ratio(value: object) -> float:
    """A ratio as a file writes it: a number (2, 1.3333, 0.1) or ``after:before`` (``4:3``, ``1:10``)."""
    text = str(value).strip()
    if ":" in text:
        after, _, before = text.partition(":")
        return float(after) / float(before)
    return float(text)


def corporate_actions(table: pd.DataFrame) -> pd.DataFrame:
    """A corporate-actions table as given (symbol, ex_date, ratio), checked: every ratio a positive
    number other than 1, every day a date, no action listed twice. Raises CorporateActionsError naming
    the rows at fault."""
    missing = [c for c in ACTION_COLUMNS if c not in table.columns]
    if missing:
        raise CorporateActionsError(f"the corporate-actions file has no column {', '.join(missing)} (it needs {', '.join(ACTION_COLUMNS)})")
    actions = pd.DataFrame({"symbol": table["symbol"].astype(str).str.strip().str.upper(),
                            "ex_date": pd.to_datetime(table["ex_date"], errors="coerce")})
    ratios = []
    for value in table["ratio"]:
        try:
            ratios.append(parse_ratio(value))
        except (ValueError, ZeroDivisionError):
            ratios.append(np.nan)
    actions["ratio"] = ratios
    bad = actions[actions["ex_date"].isna() | ~(actions["ratio"] > 0) | (actions["ratio"] == 1)]
    if len(bad):
        rows = ", ".join(f"row {i + 2}" for i in bad.index[:5])
        raise CorporateActionsError(f"the corporate-actions file has {len(bad)} row(s) without a date or a ratio other than 1 ({rows})")
    twice = actions[actions.duplicated(["symbol", "ex_date"], keep=False)]
    if len(twice):
        raise CorporateActionsError(f"the corporate-actions file lists {twice['symbol'].iloc[0]} on {twice['ex_date'].iloc[0]:%Y-%m-%d} twice")
    return actions.sort_values(["symbol", "ex_date"]).reset_index(drop=True)


def listed_on_days(prices: pd.DataFrame, actions: pd.DataFrame, after: pd.Timestamp | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(applied, unmatched) of a checked corporate-actions table: the actions whose symbol trades on
    their ex-date (``symbol, date, ratio``; only ex-dates after ``after``, when given, for a source
    that adds days to a history adjusted before), and those whose symbol or ex-date the prices do not have."""
    wanted = actions if after is None else actions[actions["ex_date"] > after]
    days = prices[["symbol", "date"]].drop_duplicates()
    keyed = wanted.rename(columns={"ex_date": "date"}).merge(days, on=["symbol", "date"], how="left", indicator=True)
    applied = keyed[keyed["_merge"] == "both"][["symbol", "date", "ratio"]].reset_index(drop=True)
    unmatched = keyed[keyed["_merge"] == "left_only"][["symbol", "date", "ratio"]].reset_index(drop=True)
    return applied, unmatched


def adjust_for_splits(prices: pd.DataFrame, jumps: pd.DataFrame) -> pd.DataFrame:
    """``prices`` with every bar before a corporate action (``symbol, date, ratio``) put on the basis
    after it (prices divided by the ratio, volume multiplied), as a split-adjusting vendor would."""
    if jumps.empty:
        return prices
    affected = prices["symbol"].isin(jumps["symbol"].unique()).to_numpy()  # the few symbols with an action: only their rows are joined
    keyed = prices.loc[affected, ["symbol", "date"]].reset_index().merge(
        jumps[["symbol", "date", "ratio"]].rename(columns={"date": "jump"}), on="symbol")
    factor = keyed[keyed["date"] < keyed["jump"]].groupby("index")["ratio"].prod()
    ratio = pd.Series(1.0, index=prices.index)
    ratio[factor.index] = factor.to_numpy()
    # New price and volume columns only: the symbols and days are shared with ``prices``, not copied
    # (a deep copy of a whole history's frame was its largest allocation).
    return prices.assign(**{column: prices[column] / ratio for column in PRICE_COLUMNS}, volume=prices["volume"] * ratio)
