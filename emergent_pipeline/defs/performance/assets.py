"""What happened to every signal, and an out-of-sample summary of it, with plots.

Everything here reads the as-issued record: a signal's ML figures are those issued on its own day,
by a model that had learned only labels that ended before it. The summary reports two windows, each
out of sample by construction: the walk-forward replay over history, and the serving model's forward
record from the day after the newest label end it learned from. The hold-out that decided the
serving model's promotion is shown too, and called what it is.
"""

import dagster as dg
from mlflow.exceptions import MlflowException
import numpy as np
import pandas as pd
from dagster_duckdb import DuckDBResource
from pydantic import Field

from emergent_pipeline import changes
from emergent_pipeline.core import performance
from emergent_pipeline.core.earned_place import EARNED_COLUMNS
from emergent_pipeline.core.issued_scores import MONITORING_COLUMNS, issued_with_signal
from emergent_pipeline.core.market_context import signal_context
from emergent_pipeline.core.out_of_sample import BENCHMARK, OutOfSampleReport, out_of_sample_report, windows
from emergent_pipeline.core.performance import RECOMMENDED
from emergent_pipeline.defs.owners import OWNERS
from emergent_pipeline.defs.metadata import date_range, png, table_metadata, table_preview, tidy
from emergent_pipeline.defs.incremental import replace_days
from emergent_pipeline.defs.ml.assets import SCORES, signal_labels, ml_enhanced_signals, stored_scores
from emergent_pipeline.defs.ml.resources import MLflowResource
from emergent_pipeline.defs.prices.resources import PriceSourceResource
from emergent_pipeline.defs.store import summary_forward_start
from emergent_pipeline.model_registry import CHAMPION
from emergent_pipeline.plots import calibration_chart, equity_chart, tearsheet_html
from emergent_pipeline.storage import read_table, replace_tables

GROUP = "performance"
KEY = ["symbol", "date"]
ISSUED = ["ml_probability", "expected_return", "ml_recommendation", "ml_quality_score", "confidence_adjustment", "model_version",
          "model_label_end", "origin", "issued_on", *EARNED_COLUMNS, *MONITORING_COLUMNS]


OUTCOMES_FROM = ["consensus_signals", "signal_labels", SCORES, "market_context"]
"""What `signal_outcomes` joins per signal: a change in any of them rewrites its rows from the first
signal day changed (the labels log the oldest signal they followed again)."""


@dg.asset(group_name=GROUP, owners=OWNERS[GROUP], kinds={"duckdb", "pandas"}, deps=[ml_enhanced_signals, signal_labels])
def signal_outcomes(duckdb: DuckDBResource) -> dg.MaterializeResult:
    """Every consensus signal, followed to its target, stop or time-out (`signal_labels`), with the
    score issued on its own day (none for a signal only scored later) and the market regime of that
    day. Signals still inside their horizon are `open` and are followed again on every run.
    Incremental: only the rows from the first signal day whose inputs changed are rewritten."""
    with duckdb.get_connection() as conn:
        plan = changes.unless_missing(conn, changes.plan(conn, "signal_outcomes", OUTCOMES_FROM, ""), SCORES)
        table = None if plan.nothing else outcome_rows(conn, plan.since)
        if table is not None:
            replace_days(conn, "signal_outcomes", table, plan.since,
                         then=lambda c: changes.record(c, "signal_outcomes", plan, "", plan.since, plan.whole))
        counts = conn.execute("SELECT outcome, count(*) FROM signal_outcomes GROUP BY 1 ORDER BY 2 DESC, 1").fetchall()
        scored = conn.execute("SELECT count(ml_probability) FROM signal_outcomes").fetchone()[0]
        resolved = conn.execute("SELECT return_net FROM signal_outcomes WHERE label IS NOT NULL").df()
    by_outcome = {str(k): int(n) for k, n in counts}
    stats = performance.trade_statistics(resolved["return_net"])
    return dg.MaterializeResult(
        metadata=tidy({
            **table_metadata(duckdb, "signal_outcomes"),
            "recomputed": ("nothing" if table is None else "the whole history" if plan.whole
                           else f"the signals from {plan.since:%Y-%m-%d}") + f" ({plan.why})",
            "rows_recomputed": 0 if table is None else len(table),
            "outcomes": dg.MetadataValue.json(by_outcome),
            "open_signals": by_outcome.get("open", 0),
            "stale_signals": by_outcome.get("stale", 0),
            "suspect_signals": by_outcome.get("suspect", 0),
            "scored_on_their_day": int(scored),
            "hit_rate_all_history": stats["hit_rate"],
            "mean_return_all_history": stats["mean_return"],
            "note": "ML figures are those issued on each signal's own day; performance_summary has the out-of-sample figures",
        })
    )


def outcome_rows(conn, since: pd.Timestamp | None) -> pd.DataFrame:
    """The rows of `signal_outcomes` for the signals from ``since`` (all when None)."""
    consensus, labels = (read_table(conn, t, since=since) for t in ("consensus_signals", "signal_labels"))
    outcome_columns = [c for c in labels.columns if c not in consensus.columns or c in KEY]
    table = consensus.merge(labels[outcome_columns], on=KEY, how="left", validate="one_to_one")
    issued = issued_with_signal(stored_scores(conn, since))
    table = table.merge(issued[KEY + ISSUED], on=KEY, how="left", validate="one_to_one")
    table["ml_status"] = np.where(table["ml_probability"].notna(), "scored", "unscored")
    return table.merge(signal_context(read_table(conn, "market_context"))[["date", "market_regime"]], on="date", how="left")


class SummaryConfig(dg.Config):
    start: str | None = Field(default=None, description="First signal date of the forward record; must be after the serving model's learned window.")


def with_record(frame: pd.DataFrame, column: str) -> pd.Series:
    """`column` prefixed with its record ("forward: ML > 0.45") when the frame holds more than one
    record, so a preview needs no record column of its own."""
    if frame.empty or frame["record"].nunique() <= 1:
        return frame[column]
    return frame["record"] + ": " + frame[column].astype(str)


def serving_model(store) -> tuple[object | None, pd.Timestamp | None, pd.DataFrame]:
    """The champion, the newest label end it learned from, and the hold-out that decided its promotion."""
    champion = store.version_by_alias(CHAMPION)
    if champion is None:
        return None, None, pd.DataFrame({"model_version": []})
    label_end = pd.Timestamp(champion.tags["label_end"]) if "label_end" in champion.tags else None
    holdout = ({k.removeprefix("holdout_"): v for k, v in store.client().get_run(champion.tags["run_id"]).data.metrics.items()
                if k.startswith("holdout_")} if "run_id" in champion.tags else {})
    table = pd.DataFrame([{"model_version": str(champion.version), "holdout_start": champion.tags.get("holdout_start"),
                           "holdout_end": champion.tags.get("holdout_end"), **holdout}]) if holdout else pd.DataFrame({"model_version": []})
    return champion, label_end, table


@dg.asset(group_name=GROUP, owners=OWNERS[GROUP], kinds={"duckdb", "pandas"}, deps=[signal_outcomes])
def performance_summary(context: dg.AssetExecutionContext, config: SummaryConfig, duckdb: DuckDBResource, mlflow: MLflowResource,
                        price_source: PriceSourceResource) -> dg.MaterializeResult:
    """Out-of-sample results from the as-issued record, in two windows: the walk-forward replay over
    history, and the serving model's forward record. Per portfolio (unfiltered consensus, recommended
    signals, probability above each tier) and per year: trades, hit rate with its Wilson
    interval, mean net return per trade and Sharpe with day-block bootstrap intervals, the
    difference from the unfiltered consensus with its interval, and a verdict that says "no proven
    edge" when the interval includes zero and claims nothing below 100 trades. Calibration of the
    issued probabilities, what a probability has meant, the serving model's promotion hold-out
    (labelled so), breakdowns and plots (`core.out_of_sample`)."""
    champion, label_end, holdout = serving_model(mlflow.store())
    forward_from = summary_forward_start(label_end, config.start)  # refused before anything is read or written
    caveat = price_source.survivorship
    with duckdb.get_connection() as conn:  # of the long tables, only what the report reads: the days from its first trade
        outcomes, benchmark = read_table(conn, "signal_outcomes"), read_table(conn, "benchmark_history")
        found = windows(outcomes, forward_from)
        first = min(trades["date"].min() for trades in found.values()) if found else None
        prices = read_table(conn, "price_history", since=first, columns=["symbol", "date", "close"]) if found else None
        breakdown = read_table(conn, "consensus_breakdown", since=first, columns=["symbol", "date", "strategy", "agrees"]) if found else None
    report = out_of_sample_report(outcomes, prices, benchmark, breakdown, forward_from) if found else None
    if report is None:
        reason = ("no as-issued score yet, so nothing can be called out of sample: run the replay_history job "
                  "(walk-forward replay) or let the daily refresh issue scores")
        context.log.warning(reason)
        return dg.MaterializeResult(metadata={"verdict": f"not computed: {reason}", "caveat": caveat})
    headline = report.summary[(report.summary["year"] == "all") & (report.summary["portfolio"] == RECOMMENDED.name)]
    verdict = "; ".join(f"{r.record}: {r.verdict}" for r in headline.itertuples())
    # The tearsheet drawn and logged to MLflow before the store is written: if either fails, the stored
    # tables stay as they were (at most an MLflow run records the attempt).
    store = mlflow.store()
    try:
        tearsheet_run = store.training.log_run("performance_summary", {}, tearsheet_metrics(report), {"verdict": verdict[:5000]}, {},
                                               {"tearsheet.csv": report.tearsheet, "signal_ic.csv": report.signal_ic,
                                                "quantiles.csv": report.quantiles, "summary.csv": report.summary},
                                               tearsheet_reports(report))
    except (OSError, MlflowException) as error:  # the tracking store or its artifact folder refused the run
        raise dg.Failure(description=f"nothing stored, every table kept as it was: the tearsheet could not be logged to MLflow "
                                     f"({mlflow.tracking_uri}): {type(error).__name__}: {error}") from error
    with duckdb.get_connection() as conn:
        replace_tables(conn, {
            "performance_summary": report.summary, "performance_equity": report.equity, "performance_breakdown": report.breakdown,
            "performance_reliability": report.reliability, "performance_calibration": report.calibration,
            "performance_meaning": report.meaning, "performance_holdout": holdout, "performance_tearsheet": report.tearsheet,
            "performance_ic": report.signal_ic, "performance_quantiles": report.quantiles,
        })
    context.log.info(f"recommended signals: {verdict}")
    return dg.MaterializeResult(metadata=tidy({
        **table_metadata(duckdb, "performance_summary", "performance_equity", "performance_breakdown", "performance_reliability",
                         "performance_calibration", "performance_meaning", "performance_holdout", "performance_tearsheet",
                         "performance_ic", "performance_quantiles"),
        "verdict": verdict,
        # A link by name: the run's URL is wider than the metadata column next to this asset's long keys.
        "tearsheet": dg.MetadataValue.md(f"[quantstats tearsheet and tables in MLflow]({store.run_url(tearsheet_run)})"),
        "windows": dg.MetadataValue.json({name: date_range(trades) for name, trades in report.windows.items()}),
        "forward_record_from": f"{forward_from:%Y-%m-%d}" if forward_from is not None else "no serving model",
        "serving_model": f"version {champion.version}, learned labels up to {label_end:%Y-%m-%d}" if label_end is not None else "none",
        **summary_previews(report, holdout),
        "caveat": caveat,
        **summary_plots(report),
    }))


def tearsheet_reports(report: OutOfSampleReport) -> dict[str, bytes]:
    """quantstats' HTML tearsheet of each window's recommended portfolio against the index bought and
    held (none for a window whose portfolio never moved: there is nothing to report, and quantstats
    divides by the volatility)."""
    return {f"tearsheet_{name}.html": tearsheet_html(curves[RECOMMENDED.name]["return"], curves[BENCHMARK]["return"],
                                                     f"Recommended signals, {name} record (as issued, out of sample)")
            for name, curves in report.curves.items() if curves[RECOMMENDED.name]["return"].std() > 0}


def tearsheet_metrics(report: OutOfSampleReport) -> dict[str, float]:
    """The headline figures of each window for the MLflow run: the recommended portfolio's tearsheet
    and the scores' mean Rank IC."""
    metrics = {}
    for row in report.tearsheet[report.tearsheet["portfolio"] == RECOMMENDED.name].itertuples():
        metrics |= {f"{row.record}_{k}": getattr(row, k) for k in ("sharpe", "sortino", "calmar", "max_drawdown", "profit_factor", "alpha", "beta")}
    for row in report.signal_ic.itertuples():
        metrics |= {f"{row.record}_{row.score}_rank_ic": row.rank_ic_mean, f"{row.record}_{row.score}_rank_icir": row.rank_icir}
    return metrics


def summary_previews(report: OutOfSampleReport, holdout: pd.DataFrame) -> dict:
    """The summary's tables as previews narrow enough for the metadata column of the Dagster UI (the
    intervals are in the verdicts and in the stored tables)."""
    summary, calibration = report.summary, report.calibration
    portfolios = summary.assign(portfolio=with_record(summary, "portfolio"))
    calibration_shown = calibration.assign(year=with_record(calibration, "year"))
    trade_columns = ["trades", "hit_rate", "mean_return"]
    by = {d: t.set_index("value")[trade_columns] for d, t in report.breakdown.groupby("dimension")}
    return {
        "portfolios": table_preview(portfolios.loc[portfolios["year"] == "all", ["portfolio", *trade_columns, "verdict"]], rows=len(summary)),
        "per_year": table_preview(portfolios.loc[portfolios["year"] != "all", ["year", "portfolio", *trade_columns]], rows=len(summary)),
        "calibration": table_preview(calibration_shown[["year", "signals", "success_rate", "mean_probability", "ece"]], rows=len(calibration)),
        "promotion_holdout": table_preview(holdout.T.set_axis(["value"], axis=1).rename_axis("metric"), rows=len(holdout.columns), index=True)
        if len(holdout) else "none",
        "promotion_holdout_means": "The hold-out that decided the serving model's promotion: out of sample for the model judged there, "
                                   "inside the learned window of the refit that serves.",
        **{f"by_{d}": table_preview(by[d], rows=len(by[d]), index=True) for d in ("strategy", "regime") if d in by},
        # Previews narrow enough for the UI's metadata column; every figure is in the stored tables and the MLflow run.
        "tearsheet_table": table_preview(report.tearsheet.assign(portfolio=with_record(report.tearsheet, "portfolio"))[
            ["portfolio", "sortino", "calmar", "profit_factor", "alpha"]], rows=len(report.tearsheet)),
        "signal_ic": table_preview(report.signal_ic.assign(score=with_record(report.signal_ic, "score"))[
            ["score", "days", "rank_ic_mean", "rank_icir"]], rows=len(report.signal_ic))
        if len(report.signal_ic) else "none",
    }


def summary_plots(report: OutOfSampleReport) -> dict:
    """Each window's calibration of the issued probabilities and equity curves, as images."""
    plots = {}
    for name, trades in report.windows.items():
        table = report.reliability[report.reliability["record"] == name].set_index("bin")
        if len(table):
            plots[f"{name}_calibration"] = png(calibration_chart(table, f"Calibration of the issued probabilities ({name})"), f"calibration {name}")
        period = f"{trades['date'].min():%Y-%m-%d} → {trades['date'].max():%Y-%m-%d}"
        plots[f"{name}_equity"] = png(equity_chart(report.curves[name], f"Equity, {name} window {period}"), f"equity {name}")
    return plots
