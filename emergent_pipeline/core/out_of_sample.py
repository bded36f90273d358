"""The out-of-sample report of the as-issued record: its windows, portfolios, calibration and breakdowns.

A signal's ML figures are those issued on its own day, by a model that had learned only labels that
ended before it. Two windows are each out of sample by construction: the walk-forward replay over
history (from the first signal the replay scored), and the serving model's forward record (from the
day after the newest label end it learned from). Everything here is plain pandas; the
``performance_summary`` asset reads the tables, calls :func:`out_of_sample_report`, stores and
describes what it returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from emergent_pipeline.core import performance
from emergent_pipeline.core.costs import TradingCosts, recorded_costs
from emergent_pipeline.core.indicators import sorted_panel
from emergent_pipeline.core.ml_metrics import expected_calibration_error, reliability_table
from emergent_pipeline.core.recommendations import SKIP
from emergent_pipeline.core.score_record import band_records
from emergent_pipeline.core.signal_analysis import signal_analysis
from emergent_pipeline.core.tearsheet import portfolio_statistics

KEY = ["symbol", "date"]
BENCHMARK = "benchmark (buy and hold)"


@dataclass
class OutOfSampleReport:
    windows: dict[str, pd.DataFrame]
    """The resolved trades of each window, by name (``replay``, ``forward``)."""
    summary: pd.DataFrame
    equity: pd.DataFrame
    breakdown: pd.DataFrame
    reliability: pd.DataFrame
    calibration: pd.DataFrame
    meaning: pd.DataFrame
    curves: dict[str, dict[str, pd.DataFrame]] = field(default_factory=dict)
    """Each window's equity curve per portfolio (for the plots)."""
    tearsheet: pd.DataFrame = field(default_factory=pd.DataFrame)
    """Per window and portfolio, the statistics of ``core.tearsheet``."""
    signal_ic: pd.DataFrame = field(default_factory=pd.DataFrame)
    """Per window and score, daily IC / Rank IC with intervals and ICIR (``core.signal_analysis``)."""
    quantiles: pd.DataFrame = field(default_factory=pd.DataFrame)
    """Per window and score, the record of each quintile of the score."""


def windows(outcomes: pd.DataFrame, forward_from: pd.Timestamp | None) -> dict[str, pd.DataFrame]:
    """The resolved trades of each out-of-sample window that has any: ``replay`` from the first signal
    the replay scored, ``forward`` from ``forward_from`` (none without a serving model)."""
    resolved = outcomes[(outcomes["outcome"] != "open") & outcomes["return_net"].notna()].reset_index(drop=True)
    found = {}
    replayed = resolved[resolved["origin"] == "replay"]
    if len(replayed):
        found["replay"] = resolved[resolved["date"] >= replayed["date"].min()]
    if forward_from is not None:
        forward = resolved[resolved["date"] >= forward_from]
        if len(forward):
            found["forward"] = forward
    return found


def window_report(trades: pd.DataFrame, name: str, panel: pd.DataFrame, calendar: pd.DatetimeIndex, costs: TradingCosts,
                  benchmark: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, pd.DataFrame], pd.DataFrame]:
    """Rows of the summary for one window (every portfolio over the window, all but the probability
    thresholds per calendar year too), the window's equity curves, and its tearsheet (one row
    per portfolio, ``core.tearsheet``)."""
    rows, curves, selected = [], {}, {}
    years = [("all", calendar), *((str(y), calendar[calendar.year == y]) for y in sorted(set(calendar.year)))]
    for spec in performance.PORTFOLIOS:
        chosen = spec.select(trades)
        curve = performance.equity_curve(performance.position_returns(panel, chosen, costs.per_side), calendar, spec.weights(chosen))
        curves[spec.name], selected[spec.name] = curve, chosen
        for year, days in years if spec.threshold is None else years[:1]:  # the probability thresholds: over the window only
            in_year = chosen if year == "all" else chosen[chosen["date"].dt.year == int(year)]
            base = trades if year == "all" else trades[trades["date"].dt.year == int(year)]
            part = curve.reindex(days)
            baseline_curve = curves[spec.baseline or performance.UNFILTERED.name].reindex(days)
            intervals = performance.bootstrap_comparison(in_year, base, part, days, baseline_curve=baseline_curve)
            if spec is performance.UNFILTERED:  # it is the baseline itself: judged per trade, not against itself
                intervals |= dict.fromkeys(["vs_unfiltered_low", "vs_unfiltered_high", "sharpe_vs_baseline_low", "sharpe_vs_baseline_high"], np.nan)
                verdict = performance.edge_verdict(len(in_year), intervals["mean_return_low"], intervals["mean_return_high"], "per trade")
            else:
                verdict = performance.edge_verdict(len(in_year), intervals["vs_unfiltered_low"], intervals["vs_unfiltered_high"])
            rows.append({"record": name, "portfolio": spec.name, "year": year, **performance.trade_statistics(in_year["return_net"]),
                         **performance.curve_statistics(part), **intervals, "verdict": verdict})
    curves[BENCHMARK] = performance.buy_and_hold(benchmark, calendar)
    rows.append({"record": name, "portfolio": BENCHMARK, "year": "all", "trades": np.nan,
                 **performance.curve_statistics(curves[BENCHMARK]), "verdict": ""})
    index_returns = curves[BENCHMARK]["return"]
    sheet = [{"record": name, "portfolio": p, "trades": len(selected[p]),
              **portfolio_statistics(curves[p], selected[p]["return_net"], index_returns)} for p in selected]
    sheet.append({"record": name, "portfolio": BENCHMARK, "trades": np.nan,
                  **portfolio_statistics(curves[BENCHMARK], pd.Series(dtype="float64"), index_returns)})
    return pd.DataFrame(rows), curves, pd.DataFrame(sheet)


def calibration_by_year(issued: pd.DataFrame, name: str) -> list[dict]:
    """Success rate, mean issued probability and ECE of a window's scored trades, overall and per year."""
    parts = [("all", issued), *((str(y), g) for y, g in issued.groupby(issued["date"].dt.year))]
    return [{"record": name, "year": year, "signals": len(part), "success_rate": part["label"].mean(),
             "mean_probability": part["ml_probability"].mean(), "ece": expected_calibration_error(part["label"], part["ml_probability"])}
            for year, part in parts]


def breakdowns(trades: pd.DataFrame, breakdown: pd.DataFrame) -> pd.DataFrame:
    """Trade statistics of a window by supporting strategy, by market regime and by quality tier."""
    supporting = breakdown[breakdown["agrees"]][KEY + ["strategy"]]
    tables = {
        "strategy": trades.merge(supporting, on=KEY).groupby("strategy")["return_net"].apply(performance.trade_statistics).unstack(),
        "regime": trades.groupby("market_regime")["return_net"].apply(performance.trade_statistics).unstack(),
        "quality_tier": trades.groupby("quality_tier")["return_net"].apply(performance.trade_statistics).unstack(),
    }
    return pd.concat([t.assign(dimension=d).rename_axis("value").reset_index() for d, t in tables.items()], ignore_index=True)


def out_of_sample_report(outcomes: pd.DataFrame, prices: pd.DataFrame, benchmark: pd.DataFrame, breakdown: pd.DataFrame,
                         forward_from: pd.Timestamp | None) -> OutOfSampleReport | None:
    """Every table of the summary, from the as-issued record (None when no window has a resolved
    trade yet), at the costs the trades' labels record. The breakdowns describe the first window."""
    found = windows(outcomes, forward_from)
    if not found:
        return None
    costs = recorded_costs(pd.concat(found.values()), "signal_outcomes")
    panel = sorted_panel(prices)
    summaries, equities, reliabilities, meanings, calibration_rows, curves = [], [], [], [], [], {}
    sheets, ics, quantiles = [], [], []
    for name, trades in found.items():
        calendar = pd.DatetimeIndex(np.sort(prices.loc[prices["date"] >= trades["date"].min(), "date"].unique()))
        # A signal without a score issued on its day takes part only in the unfiltered portfolio.
        # A score issued before the earn-its-place rule has no model_recommendation of its own: the one served was the model's.
        model_own = trades.get("model_recommendation", pd.Series(None, index=trades.index, dtype=object)).fillna(trades["ml_recommendation"])
        shown = trades.assign(ml_recommendation=trades["ml_recommendation"].fillna(SKIP), model_recommendation=model_own.fillna(SKIP))
        report, curves[name], sheet = window_report(shown, name, panel, calendar, costs, benchmark)
        sheets.append(sheet)
        summaries.append(report)
        equities.append(pd.concat([c.assign(portfolio=p, record=name).rename_axis("date").reset_index() for p, c in curves[name].items()],
                                  ignore_index=True))
        issued = trades[trades["ml_probability"].notna()]
        if len(issued):
            table = reliability_table(issued["label"], issued["ml_probability"]).rename_axis("bin").reset_index().assign(record=name)
            reliabilities.append(table)
            meanings.append(band_records(issued).reset_index().assign(record=name))
            calibration_rows += calibration_by_year(issued, name)
            ic, groups = signal_analysis(issued)
            ics.append(ic.assign(record=name))
            quantiles.append(groups.assign(record=name))
    return OutOfSampleReport(
        windows=found, summary=pd.concat(summaries, ignore_index=True), equity=pd.concat(equities, ignore_index=True),
        breakdown=breakdowns(next(iter(found.values())), breakdown),
        reliability=pd.concat(reliabilities, ignore_index=True) if reliabilities else pd.DataFrame({"record": []}),
        calibration=pd.DataFrame(calibration_rows),
        meaning=pd.concat(meanings, ignore_index=True) if meanings else pd.DataFrame({"record": []}),
        curves=curves,
        tearsheet=pd.concat(sheets, ignore_index=True),
        signal_ic=pd.concat(ics, ignore_index=True) if ics else pd.DataFrame({"record": []}),
        quantiles=pd.concat(quantiles, ignore_index=True) if quantiles else pd.DataFrame({"record": []}),
    )
