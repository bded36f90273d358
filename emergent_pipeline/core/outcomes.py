"""Following a signal after day D: to its target, its stop, or the end of its horizon.

The triple-barrier rule of the domain spec, used once for the ML labels and the outcome tracking
(the ``signal_labels`` asset): a BUY signalled on D enters at D+1's open and walks D+1, D+2, ... up
to its validity. It exits at the target if a high reaches it before a low reaches the stop, at the
stop in the opposite case, at the horizon's close otherwise; a bar that touches both counts as the
stop (we cannot know which came first, so we assume the worse); a gap through a barrier fills at the
open, not at the barrier. A SELL mirrors this. A signal whose horizon has not ended and that has
touched neither barrier is ``open``: unlabelled, never counted as a failure; if its symbol has stopped
trading (no bar for more than ``stale_after_days`` of the panel's days) it is ``stale``: unlabelled and
no longer live.

**Success has one meaning** (domain spec): the trade's net return at its exit, after round-trip
costs, is above zero. A target reached through a gap that fills at a loss is a failure. (The first
version called a trade a success when the target came first, even at a loss; a model trained on
that learned the barrier geometry, near targets behind far stops, and picked trades that hit more
often and lost more.)

Everything here uses bars after D by design. It must never feed a feature.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from emergent_pipeline.core.costs import DEFAULT_COSTS, TradingCosts
from emergent_pipeline.core.indicators import locate_rows, sorted_panel
from emergent_pipeline.core.price_quality import EXTREME_MOVE


@dataclass(frozen=True)
class OutcomeParams:
    costs: TradingCosts = DEFAULT_COSTS
    stale_after_days: int = 5
    """A symbol whose newest bar is more than this many of the panel's trading days behind the panel's
    newest day has stopped trading (delisted, renamed, a feed that died): its unresolved signals are
    ``stale``, neither live nor labelled."""
    suspect_move: float = EXTREME_MOVE
    """A signal whose path, from its entry to its exit (or to now while open), crosses a one-day move of
    its symbol beyond this is ``suspect``: unlabelled and out of the record. Such a move, when no
    corporate action explains it (listed or detected: ``core.corporate_actions``), is as likely an
    unadjusted bonus, split or spin-off as a real one, and a label across it would teach the model a
    25 % stop-out that never happened."""


def follow_signals(prices: pd.DataFrame, signals: pd.DataFrame, params: OutcomeParams = OutcomeParams()) -> pd.DataFrame:
    """One row per signal (same order): outcome, entry_date, entry_fill, exit_date, exit_price,
    return_net, mfe, mae (favourable/adverse excursion as returns from the fill), bars_held,
    horizon_end (the date the horizon ends, NaT while in the future), live_until (the first day it is
    no longer live; NaT while open) and label (1 when return_net > 0, 0 otherwise, NaN while open or
    stale).

    ``signals`` needs symbol, date, signal_type, target_price, stop_loss, validity_days.
    """
    panel = sorted_panel(prices)
    n = len(signals)
    row = locate_rows(panel, signals["symbol"], signals["date"])
    if (row < 0).any():
        missing = signals.loc[row < 0, ["symbol", "date"]].head(3).to_dict("records")
        raise ValueError(f"{int((row < 0).sum())} signals have no price bar on their date, e.g. {missing}")
    horizon = signals["validity_days"].to_numpy(dtype="int64")
    width = int(horizon.max()) if n else 1
    bars_left = _bars_left_in_symbol(panel)[row]  # bars after D for the same symbol
    offsets = np.arange(1, width + 1)
    positions = np.minimum(row[:, None] + offsets, len(panel) - 1)
    inside = (offsets[None, :] <= np.minimum(horizon, bars_left)[:, None])

    def window(column: str) -> np.ndarray:
        values = panel[column].to_numpy(dtype="float64")[positions]
        return np.where(inside, values, np.nan)

    def or_close(column: str) -> np.ndarray:  # an incomplete bar (a close alone) is flat at its close
        values = window(column)
        return np.where(np.isnan(values), close, values)

    # One (signals × horizon) window per column, each built once: on a long history every one of
    # them is hundreds of MB.
    close = window("close")
    opens, high, low = or_close("open"), or_close("high"), or_close("low")
    is_buy = (signals["signal_type"].to_numpy() == "BUY")[:, None]
    target = signals["target_price"].to_numpy(dtype="float64")[:, None]
    stop = signals["stop_loss"].to_numpy(dtype="float64")[:, None]
    # In "gain" terms a SELL is a BUY of the inverse: favourable moves are down.
    favourable = np.where(is_buy, high >= target, low <= target)
    adverse = np.where(is_buy, low <= stop, high >= stop)
    hit = favourable | adverse
    first = np.where(hit.any(axis=1), hit.argmax(axis=1), -1)
    rows_n = np.arange(n)
    stopped = (first >= 0) & adverse[rows_n, np.maximum(first, 0)]  # a bar touching both is a stop
    reached = (first >= 0) & ~stopped
    complete = bars_left >= horizon
    last_day_of_symbol = panel["day"].to_numpy()[np.minimum(row + bars_left, len(panel) - 1)]
    behind = int(panel["day"].max()) - last_day_of_symbol
    outcome = np.select([stopped, reached, complete, behind > params.stale_after_days], ["stop", "target", "timeout", "stale"], "open")

    entry_fill = opens[:, 0]
    exit_offset = np.where(first >= 0, first, horizon - 1)
    bar_open = opens[rows_n, np.minimum(exit_offset, width - 1)]
    target_1d, stop_1d, buy_1d = target[:, 0], stop[:, 0], is_buy[:, 0]
    exit_price = np.select(
        [reached, stopped],
        [
            np.where(buy_1d, np.maximum(target_1d, bar_open), np.minimum(target_1d, bar_open)),  # a gap fills at the open
            np.where(buy_1d, np.minimum(stop_1d, bar_open), np.maximum(stop_1d, bar_open)),
        ],
        close[rows_n, np.minimum(exit_offset, width - 1)],
    )
    exit_price = np.where(np.isin(outcome, ["open", "stale"]), np.nan, exit_price)
    direction = np.where(buy_1d, 1.0, -1.0)
    gross = direction * (exit_price / entry_fill - 1.0)
    return_net = gross - params.costs.round_trip

    held = offsets[None, :] <= (exit_offset + 1)[:, None]
    up = np.nanmax(np.where(held & inside, high, np.nan), axis=1, initial=-np.inf) / entry_fill - 1.0
    down = np.nanmin(np.where(held & inside, low, np.nan), axis=1, initial=np.inf) / entry_fill - 1.0
    mfe = np.where(buy_1d, up, -down)
    mae = np.where(buy_1d, down, -up)

    dates = panel["date"].to_numpy()
    exit_row = row + 1 + exit_offset
    resolved = ~np.isin(outcome, ["open", "stale"])
    suspect = _crosses_a_jump(panel, positions, inside & (held | ~resolved[:, None]), params.suspect_move)
    outcome = np.where(suspect, "suspect", outcome)
    label = np.where(resolved & ~suspect, (return_net > 0).astype(float), np.nan)
    return pd.DataFrame(
        {
            "outcome": outcome,
            "entry_date": np.where(bars_left >= 1, dates[np.minimum(row + 1, len(panel) - 1)], np.datetime64("NaT")),
            "entry_fill": np.where(bars_left >= 1, entry_fill, np.nan),
            "exit_date": np.where(resolved, dates[np.minimum(exit_row, len(panel) - 1)], np.datetime64("NaT")),
            "exit_price": exit_price,
            "return_net": np.where(resolved & ~suspect, return_net, np.nan),
            "mfe": np.where(bars_left >= 1, mfe, np.nan),
            "mae": np.where(bars_left >= 1, mae, np.nan),
            "bars_held": np.where(resolved, exit_offset + 1, np.minimum(bars_left, horizon)),
            "horizon_end": np.where(complete, dates[np.minimum(row + horizon, len(panel) - 1)], np.datetime64("NaT")),
            # Live while the day is before this: the exit, or the day after a stale symbol's last bar; open: no end yet.
            "live_until": np.select([resolved, outcome == "stale"],
                                    [dates[np.minimum(exit_row, len(panel) - 1)],
                                     dates[np.minimum(row + bars_left, len(panel) - 1)] + np.timedelta64(1, "D")],
                                    np.datetime64("NaT")),
            "label": label,
        },
        index=signals.index,
    )


def _crosses_a_jump(panel: pd.DataFrame, positions: np.ndarray, span: np.ndarray, threshold: float) -> np.ndarray:
    """Per signal: whether a bar of its ``span`` (its window's bars it held, or has so far) closed more
    than ``threshold`` away from the bar before it (of the same symbol)."""
    close = panel["close"].to_numpy(dtype="float64")
    previous = np.where(panel["bar"].to_numpy() > 0, np.roll(close, 1), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        jump = np.abs(close / previous - 1.0) > threshold
    return (span & jump[positions]).any(axis=1)


def _bars_left_in_symbol(panel: pd.DataFrame) -> np.ndarray:
    """For each row, how many later bars its symbol has in the panel."""
    bar = panel["bar"].to_numpy()
    starts = np.flatnonzero(bar == 0)
    lengths = np.diff(np.r_[starts, len(panel)])
    return np.repeat(lengths, lengths) - bar - 1
