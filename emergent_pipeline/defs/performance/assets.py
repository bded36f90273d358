"""What happened to every signal, and an out-of-sample summary of it, with plots."""

import dagster as dg
import numpy as np
import pandas as pd
from dagster_duckdb import DuckDBResource

from emergent_pipeline.core import performance
from emergent_pipeline.core.indicators import sorted_panel
from emergent_pipeline.core.ml_metrics import expected_calibration_error, reliability_table
from emergent_pipeline.core.outcomes import OutcomeParams, follow_signals
from emergent_pipeline.defs.tables import load_tables
from emergent_pipeline.defs.metadata import date_range, png
from emergent_pipeline.defs.ml.assets import ml_enhanced_signals
from emergent_pipeline.defs.ml.resources import MLflowResource
from emergent_pipeline.plots import calibration_chart, equity_chart
from emergent_pipeline.storage import replace_table, replace_tables

GROUP = "performance"
SURVIVORSHIP = (
    "Survivorship bias: the universe is a later index membership list (the S&P 500 of February 2018), "
    "so stocks that fell out of the index before then are missing and every figure here is flattered."
)


class OutcomeConfig(dg.Config):
    cost_bps_per_side: float = 10.0


@dg.asset(group_name=GROUP, kinds={"duckdb", "pandas"}, deps=[ml_enhanced_signals])
def signal_outcomes(config: OutcomeConfig, duckdb: DuckDBResource) -> dg.MaterializeResult:
    """Every consensus signal, scored or not, followed to its target, stop or time-out: exit date
    and price, return net of costs, maximum favourable and adverse excursion, days held. Signals
    still inside their horizon are ``open`` and are re-evaluated on every run as prices arrive."""
    signals, prices = load_tables(duckdb, "ml_enhanced_signals", "price_history")
    outcomes = follow_signals(prices, signals, OutcomeParams(config.cost_bps_per_side))
    table = pd.concat([signals.reset_index(drop=True), outcomes.reset_index(drop=True)], axis=1)
    with duckdb.get_connection() as conn:
        replace_table(conn, "signal_outcomes", table)
    resolved = table[table["outcome"] != "open"]
    stats = performance.trade_statistics(resolved["return_net"])
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(table),
            "outcomes": dg.MetadataValue.json(table["outcome"].value_counts().to_dict()),
            "open_signals": int((table["outcome"] == "open").sum()),
            "hit_rate_all_history": stats["hit_rate"],
            "mean_return_all_history": stats["mean_return"],
            "cost_bps_per_side": config.cost_bps_per_side,
            "note": "whole history, in-sample for the model: see performance_summary for out-of-sample figures",
        }
    )


def _not_computed(context: dg.AssetExecutionContext, reason: str) -> dg.MaterializeResult:
    """Nothing out-of-sample to report yet: say why, keep the previous tables, do not fail the run."""
    context.log.warning(reason)
    return dg.MaterializeResult(metadata={"verdict": f"not computed: {reason}", "caveat": SURVIVORSHIP})


class SummaryConfig(dg.Config):
    start: str | None = None
    """First signal date to report; must be after the model's training cut-off (default: the day after)."""
    cost_bps_per_side: float = 10.0


@dg.asset(group_name=GROUP, kinds={"duckdb", "pandas"}, deps=[signal_outcomes])
def performance_summary(context: dg.AssetExecutionContext, config: SummaryConfig, duckdb: DuckDBResource, mlflow: MLflowResource) -> dg.MaterializeResult:
    """Out-of-sample results: signals dated after the scoring model's training cut-off only.
    Trades (hit rate with its 95 % interval, mean and median return), daily equal-weight equity
    curves for the unfiltered consensus, the ML-filtered signals at 0.45 / 0.60 / 0.75 and the
    benchmark bought and held, breakdowns by strategy, regime and quality tier, the reliability
    of ml_probability, and the guide's ML statistics. It says so when there is no edge."""
    outcomes, prices, benchmark, breakdown = load_tables(duckdb, "signal_outcomes", "price_history", "benchmark_history", "consensus_breakdown")
    versions = outcomes["model_version"].dropna().unique()
    if len(versions) == 0:
        return _not_computed(
            context, "no signal is scored by a model, so nothing can be called out-of-sample: run the "
            "train_signal_model job (or materialize signal_scorer and ml_enhanced_signals) first"
        )
    store = mlflow.store()
    version = store.client().get_model_version(store.model_name, str(versions[0]))
    cutoff = pd.Timestamp(version.tags["training_cutoff"])
    try:
        oos = performance.out_of_sample(outcomes, cutoff, pd.Timestamp(config.start) if config.start else None)
    except performance.InSampleError as error:
        raise dg.Failure(description=str(error)) from error
    if oos.empty:
        return _not_computed(context, f"no signal is dated after the training cut-off {cutoff:%Y-%m-%d} yet")

    resolved = oos[oos["outcome"] != "open"].reset_index(drop=True)
    calendar = pd.DatetimeIndex(np.sort(prices.loc[prices["date"] >= oos["date"].min(), "date"].unique()))
    cost = config.cost_bps_per_side / 10_000
    rows, curves = [], {}
    panel = sorted_panel(prices)
    for spec in performance.PORTFOLIOS:
        chosen = resolved if spec.threshold is None else resolved[resolved["ml_probability"] > spec.threshold]
        curve = performance.equity_curve(performance.position_returns(panel, chosen, cost), calendar)
        curves[spec.name] = curve
        rows.append({"portfolio": spec.name, **performance.trade_statistics(chosen["return_net"]), **performance.curve_statistics(curve)})
    benchmark_curve = performance.buy_and_hold(benchmark, calendar)
    curves["benchmark (buy and hold)"] = benchmark_curve
    rows.append({"portfolio": "benchmark (buy and hold)", "trades": np.nan, **performance.curve_statistics(benchmark_curve)})
    summary = pd.DataFrame(rows)

    supporting = breakdown[breakdown["agrees"]][["symbol", "date", "strategy"]]
    by_strategy = resolved.merge(supporting, on=["symbol", "date"]).groupby("strategy")["return_net"].apply(performance.trade_statistics).unstack()
    by_regime = resolved.groupby("market_regime")["return_net"].apply(performance.trade_statistics).unstack()
    by_tier = resolved.groupby("quality_tier")["return_net"].apply(performance.trade_statistics).unstack()
    breakdowns = pd.concat(
        [t.assign(dimension=d).rename_axis("value").reset_index() for d, t in [("strategy", by_strategy), ("regime", by_regime), ("quality_tier", by_tier)]],
        ignore_index=True,
    )

    scored = resolved[resolved["ml_status"] == "scored"]
    reliability = reliability_table(scored["label"], scored["ml_probability"])
    ece = expected_calibration_error(scored["label"], scored["ml_probability"])
    ml_statistics = {
        "ml_enhancement_rate": float((oos["ml_status"] == "scored").mean() * 100),
        "average_ml_probability": float(oos["ml_probability"].mean()),
        "average_confidence_adjustment": float(oos["confidence_adjustment"].mean()),
        "recommendation_distribution": oos["ml_recommendation"].value_counts().to_dict(),
        "quality_distribution": oos["ml_quality_score"].value_counts().to_dict(),
    }
    unfiltered, filtered = summary.iloc[0], summary.set_index("portfolio")
    edge = [
        f"{name}: Sharpe {filtered.loc[name, 'sharpe']:.2f} vs {unfiltered['sharpe']:.2f} unfiltered"
        for name in ("ML > 0.45", "ML > 0.60", "ML > 0.75") if filtered.loc[name, "trades"] > 0
    ]
    filters = [n for n in ("ML > 0.45", "ML > 0.60", "ML > 0.75") if filtered.loc[n, "trades"] > 0]
    beats = [n for n in filters if filtered.loc[n, "sharpe"] > unfiltered["sharpe"]]
    benchmark_sharpe = filtered.loc["benchmark (buy and hold)", "sharpe"]
    beats_benchmark = [n for n in ["consensus (unfiltered)", *filters] if filtered.loc[n, "sharpe"] > benchmark_sharpe]
    verdict = (
        (f"the ML filter improved the out-of-sample Sharpe over the unfiltered consensus at {', '.join(beats)}" if beats
         else "no edge from the model: no ML filter beat the unfiltered consensus out of sample")
        + (f"; beating the benchmark bought and held (Sharpe {benchmark_sharpe:.2f}): {', '.join(beats_benchmark)}" if beats_benchmark
           else f"; none beat the benchmark bought and held (Sharpe {benchmark_sharpe:.2f})")
    )
    period = f"{oos['date'].min():%Y-%m-%d} → {oos['date'].max():%Y-%m-%d}"
    equity = pd.concat([c.assign(portfolio=name).rename_axis("date").reset_index() for name, c in curves.items()], ignore_index=True)
    with duckdb.get_connection() as conn:
        replace_tables(conn, {
            "performance_summary": summary.assign(period=period, model_version=str(version.version), training_cutoff=cutoff),
            "performance_equity": equity,
            "performance_breakdown": breakdowns,
            "performance_reliability": reliability.rename_axis("bin").reset_index(),
        })
    context.log.info(f"out-of-sample {period}: {verdict}")
    shown = ["portfolio", "trades", "hit_rate", "hit_rate_low", "hit_rate_high", "mean_return", "median_return", "annual_return", "annual_volatility", "sharpe", "max_drawdown"]
    return dg.MaterializeResult(
        metadata={
            "out_of_sample_period": period,
            "model_version": str(version.version),
            "training_cutoff": f"{cutoff:%Y-%m-%d}",
            "signals": len(oos),
            "resolved_trades": len(resolved),
            "open_signals": int((oos["outcome"] == "open").sum()),
            "verdict": verdict,
            "edge": dg.MetadataValue.json(edge),
            "portfolios": dg.MetadataValue.md(summary[shown].round(4).to_markdown(index=False)),
            "by_strategy": dg.MetadataValue.md(by_strategy.round(4).to_markdown()),
            "by_regime": dg.MetadataValue.md(by_regime.round(4).to_markdown()),
            "by_quality_tier": dg.MetadataValue.md(by_tier.round(4).to_markdown()),
            "reliability": dg.MetadataValue.md(reliability.round(3).to_markdown()),
            "expected_calibration_error": ece,
            "ml_statistics": dg.MetadataValue.json(ml_statistics),
            "caveat": SURVIVORSHIP,
            "equity_and_drawdown": png(equity_chart(curves, f"Out-of-sample equity, {period}"), "equity curves"),
            "calibration": png(calibration_chart(reliability, "Calibration, out of sample"), "calibration"),
            "period_signals": date_range(oos),
        }
    )
