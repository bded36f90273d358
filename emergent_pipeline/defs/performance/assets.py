"""What happened to every signal, and an out-of-sample summary of it, with plots.

Everything here reads the as-issued record: a signal's ML figures are those issued on its own day,
by a model that had learned only labels that ended before it. The summary reports two windows, each
out of sample by construction: the walk-forward replay over history, and the serving model's forward
record from the day after the newest label end it learned from. The hold-out that decided the
serving model's promotion is shown too, and called what it is.
"""

import dagster as dg
import numpy as np
import pandas as pd
from dagster_duckdb import DuckDBResource
from pydantic import Field

from emergent_pipeline.core import performance
from emergent_pipeline.core.indicators import sorted_panel
from emergent_pipeline.core.issued_scores import empty_scores, issued_with_signal
from emergent_pipeline.core.ml_metrics import expected_calibration_error, reliability_table
from emergent_pipeline.defs.owners import OWNERS
from emergent_pipeline.defs.metadata import date_range, png, table_metadata, table_preview, tidy
from emergent_pipeline.defs.ml.assets import signal_labels, ml_enhanced_signals
from emergent_pipeline.defs.ml.resources import MLflowResource
from emergent_pipeline.defs.tables import load_tables
from emergent_pipeline.model_registry import CHAMPION
from emergent_pipeline.plots import calibration_chart, equity_chart
from emergent_pipeline.storage import replace_table, replace_tables

GROUP = "performance"
KEY = ["symbol", "date"]
SURVIVORSHIP = (
    "Survivorship bias: the universe is a later index membership list (the S&P 500 of February 2018), "
    "so stocks that fell out of the index before then are missing and every figure here is flattered."
)
ISSUED = ["ml_probability", "expected_return", "ml_recommendation", "ml_quality_score", "confidence_adjustment", "model_version",
          "model_label_end", "origin", "issued_on"]


@dg.asset(group_name=GROUP, owners=OWNERS[GROUP], kinds={"duckdb", "pandas"}, deps=[ml_enhanced_signals, signal_labels])
def signal_outcomes(duckdb: DuckDBResource) -> dg.MaterializeResult:
    """Every consensus signal, followed to its target, stop or time-out (`signal_labels`), with the
    score issued on its own day (none for a signal only scored later) and the market regime of that
    day. Signals still inside their horizon are `open` and are followed again on every run."""
    consensus, labels, scores, market = load_tables(duckdb, "consensus_signals", "signal_labels", "signal_scores", "market_context")
    outcome_columns = [c for c in labels.columns if c not in consensus.columns or c in KEY]
    table = consensus.merge(labels[outcome_columns], on=KEY, how="left", validate="one_to_one")
    issued = issued_with_signal(scores if scores is not None else empty_scores())
    table = table.merge(issued[KEY + ISSUED], on=KEY, how="left", validate="one_to_one")
    table["ml_status"] = np.where(table["ml_probability"].notna(), "scored", "unscored")
    table = table.merge(market[["date", "regime"]].rename(columns={"regime": "market_regime"}), on="date", how="left")
    with duckdb.get_connection() as conn:
        replace_table(conn, "signal_outcomes", table)
    resolved = table[table["label"].notna()]
    stats = performance.trade_statistics(resolved["return_net"])
    return dg.MaterializeResult(
        metadata=tidy({
            **table_metadata(duckdb, "signal_outcomes"),
            "outcomes": dg.MetadataValue.json(table["outcome"].value_counts().to_dict()),
            "open_signals": int((table["outcome"] == "open").sum()),
            "stale_signals": int((table["outcome"] == "stale").sum()),
            "scored_on_their_day": int(table["ml_probability"].notna().sum()),
            "hit_rate_all_history": stats["hit_rate"],
            "mean_return_all_history": stats["mean_return"],
            "note": "ML figures are those issued on each signal's own day; performance_summary has the out-of-sample figures",
        })
    )


class SummaryConfig(dg.Config):
    start: str | None = Field(default=None, description="First signal date of the forward record; must be after the serving model's learned window.")


def window_report(trades: pd.DataFrame, name: str, panel: pd.DataFrame, calendar: pd.DatetimeIndex, cost: float,
                  benchmark: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Rows of the summary for one window (every portfolio over the window and per calendar year)
    and the window's equity curves."""
    rows, curves = [], {}
    unfiltered = trades
    for spec in performance.PORTFOLIOS:
        chosen = spec.select(trades)
        curve = performance.equity_curve(performance.position_returns(panel, chosen, cost), calendar)
        curves[spec.name] = curve
        for year, days in [("all", calendar), *((str(y), calendar[calendar.year == y]) for y in sorted(set(calendar.year)))]:
            in_year = chosen if year == "all" else chosen[chosen["date"].dt.year == int(year)]
            base = unfiltered if year == "all" else unfiltered[unfiltered["date"].dt.year == int(year)]
            if year != "all" and spec not in (performance.UNFILTERED, performance.RECOMMENDED):
                continue
            part = curve.reindex(days)
            intervals = performance.bootstrap_comparison(in_year, base, part, days)
            if spec is performance.UNFILTERED:  # it is the baseline itself
                intervals |= {"vs_unfiltered_low": np.nan, "vs_unfiltered_high": np.nan}
            verdict = (performance.edge_verdict(len(in_year), intervals["vs_unfiltered_low"], intervals["vs_unfiltered_high"])
                       if spec is not performance.UNFILTERED else
                       performance.edge_verdict(len(in_year), intervals["mean_return_low"], intervals["mean_return_high"], "per trade"))
            rows.append({"record": name, "portfolio": spec.name, "year": year, **performance.trade_statistics(in_year["return_net"]),
                         **performance.curve_statistics(part), **intervals, "verdict": verdict})
    benchmark_curve = performance.buy_and_hold(benchmark, calendar)
    curves["benchmark (buy and hold)"] = benchmark_curve
    rows.append({"record": name, "portfolio": "benchmark (buy and hold)", "year": "all", "trades": np.nan,
                 **performance.curve_statistics(benchmark_curve), "verdict": ""})
    return pd.DataFrame(rows), curves


def with_record(frame: pd.DataFrame, column: str) -> pd.Series:
    """`column` prefixed with its record ("forward: ML > 0.45") when the frame holds more than one
    record, so a preview needs no record column of its own."""
    if frame.empty or frame["record"].nunique() <= 1:
        return frame[column]
    return frame["record"] + ": " + frame[column].astype(str)


@dg.asset(group_name=GROUP, owners=OWNERS[GROUP], kinds={"duckdb", "pandas"}, deps=[signal_outcomes])
def performance_summary(context: dg.AssetExecutionContext, config: SummaryConfig, duckdb: DuckDBResource, mlflow: MLflowResource) -> dg.MaterializeResult:
    """Out-of-sample results from the as-issued record, in two windows: the walk-forward replay over
    history, and the serving model's forward record. Per portfolio (unfiltered consensus, recommended
    signals, probability above 0.45 / 0.60 / 0.75) and per year: trades, hit rate with its Wilson
    interval, mean net return per trade and Sharpe with day-block bootstrap intervals, the
    difference from the unfiltered consensus with its interval, and a verdict that says "no proven
    edge" when the interval includes zero and claims nothing below 100 trades. Calibration of the
    issued probabilities, what a probability has meant, the serving model's promotion hold-out
    (labelled so), breakdowns and plots."""
    champion = mlflow.store().version_by_alias(CHAMPION)
    label_end = pd.Timestamp(champion.tags["label_end"]) if champion is not None and "label_end" in champion.tags else None
    try:  # refused before anything is read or written
        forward_from = performance.forward_start(label_end, pd.Timestamp(config.start) if config.start else None) if label_end is not None else None
    except performance.InSampleError as error:
        raise dg.Failure(description=str(error)) from error
    if label_end is None and config.start:
        raise dg.Failure(description="no serving model, hence no forward record: run the train_signal_model job first")
    outcomes, prices, benchmark, breakdown = load_tables(duckdb, "signal_outcomes", "price_history", "benchmark_history", "consensus_breakdown")
    resolved = outcomes[(outcomes["outcome"] != "open") & outcomes["return_net"].notna()].reset_index(drop=True)
    cost = float(outcomes["cost_bps_per_side"].dropna().iloc[0]) / 10_000 if outcomes["cost_bps_per_side"].notna().any() else 0.001
    panel = sorted_panel(prices)
    windows = {}
    replayed = resolved[resolved["origin"] == "replay"]
    if len(replayed):
        windows["replay"] = resolved[resolved["date"] >= replayed["date"].min()]
    if forward_from is not None:
        forward = resolved[resolved["date"] >= forward_from]
        if len(forward):
            windows["forward"] = forward
    if not windows:
        reason = ("no as-issued score yet, so nothing can be called out of sample: run the replay_history job "
                  "(walk-forward replay) or let the daily refresh issue scores")
        context.log.warning(reason)
        return dg.MaterializeResult(metadata={"verdict": f"not computed: {reason}", "caveat": SURVIVORSHIP})

    summaries, equities, reliabilities, meanings, calibration_rows = [], [], [], [], []
    plots = {}
    for name, trades in windows.items():
        calendar = pd.DatetimeIndex(np.sort(prices.loc[prices["date"] >= trades["date"].min(), "date"].unique()))
        issued = trades[trades["ml_probability"].notna()]
        # A signal without a score issued on its day takes part only in the unfiltered portfolio.
        report, curves = window_report(trades.assign(ml_recommendation=trades["ml_recommendation"].fillna("SKIP")), name, panel, calendar, cost, benchmark)
        summaries.append(report)
        equities.append(pd.concat([c.assign(portfolio=p, record=name).rename_axis("date").reset_index() for p, c in curves.items()], ignore_index=True))
        if len(issued):
            table = reliability_table(issued["label"], issued["ml_probability"]).rename_axis("bin").reset_index().assign(record=name)
            reliabilities.append(table)
            meanings.append(performance.score_meaning(issued).reset_index().assign(record=name))
            for year, part in [("all", issued), *((str(y), g) for y, g in issued.groupby(issued["date"].dt.year))]:
                calibration_rows.append({"record": name, "year": year, "signals": len(part), "success_rate": part["label"].mean(),
                                         "mean_probability": part["ml_probability"].mean(),
                                         "ece": expected_calibration_error(part["label"], part["ml_probability"])})
            plots[f"{name}_calibration"] = png(calibration_chart(table.set_index("bin"), f"Calibration of the issued probabilities ({name})"), f"calibration {name}")
        period = f"{trades['date'].min():%Y-%m-%d} → {trades['date'].max():%Y-%m-%d}"
        plots[f"{name}_equity"] = png(equity_chart(curves, f"Equity, {name} window {period}"), f"equity {name}")
    summary = pd.concat(summaries, ignore_index=True)
    calibration = pd.DataFrame(calibration_rows)

    supporting = breakdown[breakdown["agrees"]][KEY + ["strategy"]]
    first_window = next(iter(windows.values()))
    by_strategy = first_window.merge(supporting, on=KEY).groupby("strategy")["return_net"].apply(performance.trade_statistics).unstack()
    by_regime = first_window.groupby("market_regime")["return_net"].apply(performance.trade_statistics).unstack()
    by_tier = first_window.groupby("quality_tier")["return_net"].apply(performance.trade_statistics).unstack()
    breakdowns = pd.concat(
        [t.assign(dimension=d).rename_axis("value").reset_index() for d, t in [("strategy", by_strategy), ("regime", by_regime), ("quality_tier", by_tier)]],
        ignore_index=True,
    )
    holdout = {k.removeprefix("holdout_"): v for k, v in mlflow.store().client().get_run(champion.tags["run_id"]).data.metrics.items()
               if k.startswith("holdout_")} if champion is not None and "run_id" in champion.tags else {}
    holdout_table = pd.DataFrame([{"model_version": str(champion.version), "holdout_start": champion.tags.get("holdout_start"),
                                   "holdout_end": champion.tags.get("holdout_end"), **holdout}]) if holdout else pd.DataFrame()
    with duckdb.get_connection() as conn:
        replace_tables(conn, {
            "performance_summary": summary,
            "performance_equity": pd.concat(equities, ignore_index=True),
            "performance_breakdown": breakdowns,
            "performance_reliability": pd.concat(reliabilities, ignore_index=True) if reliabilities else pd.DataFrame({"record": []}),
            "performance_calibration": calibration,
            "performance_meaning": pd.concat(meanings, ignore_index=True) if meanings else pd.DataFrame({"record": []}),
            "performance_holdout": holdout_table if len(holdout_table) else pd.DataFrame({"model_version": []}),
        })
    headline = summary[(summary["year"] == "all") & (summary["portfolio"] == performance.RECOMMENDED.name)]
    verdict = "; ".join(f"{r.record}: {r.verdict}" for r in headline.itertuples())
    context.log.info(f"recommended signals: {verdict}")
    # Narrow enough for the metadata column of the Dagster UI; the intervals are in the verdict and in the tables.
    portfolios = summary.assign(portfolio=with_record(summary, "portfolio"))
    calibration_shown = calibration.assign(year=with_record(calibration, "year"))
    trade_columns = ["trades", "hit_rate", "mean_return"]
    return dg.MaterializeResult(
        metadata=tidy({
            **table_metadata(duckdb, "performance_summary", "performance_equity", "performance_breakdown", "performance_reliability",
                             "performance_calibration", "performance_meaning", "performance_holdout"),
            "verdict": verdict,
            "windows": dg.MetadataValue.json({name: date_range(trades) for name, trades in windows.items()}),
            "forward_record_from": f"{forward_from:%Y-%m-%d}" if forward_from is not None else "no serving model",
            "serving_model": f"version {champion.version}, learned labels up to {label_end:%Y-%m-%d}" if champion is not None and label_end is not None else "none",
            "portfolios": table_preview(portfolios.loc[portfolios["year"] == "all", ["portfolio", *trade_columns, "verdict"]], rows=len(summary)),
            "per_year": table_preview(portfolios.loc[portfolios["year"] != "all", ["year", "portfolio", *trade_columns]], rows=len(summary)),
            "calibration": table_preview(calibration_shown[["year", "signals", "success_rate", "mean_probability", "ece"]], rows=len(calibration)),
            "promotion_holdout": table_preview(holdout_table.T.set_axis(["value"], axis=1).rename_axis("metric"), rows=len(holdout_table.columns), index=True)
            if len(holdout_table) else "none",
            "promotion_holdout_means": "The hold-out that decided the serving model's promotion: out of sample for the model judged there, "
                                       "inside the learned window of the refit that serves.",
            "by_strategy": table_preview(by_strategy[trade_columns], rows=len(by_strategy), index=True),
            "by_regime": table_preview(by_regime[trade_columns], rows=len(by_regime), index=True),
            "caveat": SURVIVORSHIP,
            **plots,
        })
    )

