"""The ML lifecycle: labels, features, train → evaluate → promote (MLflow), the walk-forward replay, and
the as-issued scores of every signal."""

from dataclasses import asdict, dataclass

import dagster as dg
import numpy as np
import pandas as pd
from dagster_duckdb import DuckDBResource
from pydantic import Field

from emergent_pipeline import changes
from emergent_pipeline.core.features import FEATURES, build_features
from emergent_pipeline.core.ml_metrics import expected_calibration_error, reliability_table
from emergent_pipeline.core.model_selection import SplitParams
from emergent_pipeline.core.costs import DEFAULT_COSTS, TradingCosts, recorded_costs
from emergent_pipeline.core.market_context import signal_context
from emergent_pipeline.core.outcomes import OutcomeParams, follow_signals
from emergent_pipeline.core.score_record import band_records, known_on
from emergent_pipeline.core.earned_place import EARNED_COLUMNS, with_earned_place
from emergent_pipeline.engine import ordered_map
from emergent_pipeline.core.replay import ReplayParams, compare_designs, walk_forward_replay
from emergent_pipeline.core.signal_model import ModelParams, PromotionRule, TrainingResult, judge, train
from emergent_pipeline.core.strategy_panel import build_strategy_panel
from emergent_pipeline.defs.automation.resources import RetrainingPolicy
from emergent_pipeline.defs.market.assets import market_context
from emergent_pipeline.defs.owners import OWNERS
from emergent_pipeline.defs.metadata import png, table_metadata, table_preview, tidy
from emergent_pipeline.defs.ml.resources import MLflowResource
from emergent_pipeline.defs.incremental import STRATEGY_LOOKBACK_DAYS, Incremental, recompute_asset, settings_key, stored_query
from emergent_pipeline.defs.prices.assets import DAILY_FRESHNESS, SOURCE
from emergent_pipeline.defs.signals.assets import consensus_signals
from emergent_pipeline.defs.tables import load_tables
from emergent_pipeline.model_registry import CHALLENGER, CHAMPION, CHAMPION_MOVE, ModelStore
from emergent_pipeline.training_log import DatasetInput
from emergent_pipeline.plots import calibration_chart
from emergent_pipeline.scoring import score_with_champion
from emergent_pipeline.core.issued_scores import SCORE_COLUMNS, empty_scores, issued_with_signal, newest_scores, score_rows
from emergent_pipeline.storage import read_table, replace_rows_from, replace_table, replace_tables, table_exists, transaction, write_rows

GROUP = "ml"
KEY = ["symbol", "date"]
SCORES = "signal_scores"
"""The as-issued record (`core.issued_scores`): appended by `ml_enhanced_signals`, its history rebuilt by `signal_replay`."""
LEVELS = ["signal_type", "target_price", "stop_loss", "validity_days"]


class LabelConfig(dg.Config):
    cost_bps_per_side: float = Field(default=DEFAULT_COSTS.bps_per_side, description="Costs per side, in basis points: the one cost setting "
                                     "of labels, outcomes, the expected-return model and the summary (they read it from the labels).")


BAR_COLUMNS = ["symbol", "date", "open", "high", "low", "close"]
"""What following a signal reads of the bars (not the volume)."""

LABELS_SETTLED = "date < ? AND horizon_end < ?"
"""The labels a change from day C (the placeholders: C, C) cannot touch: a signal before C whose whole
horizon ended before C was followed on bars that are all still as they were. Every other row (newer,
open, stale, or resolved early with its horizon still running) is followed again."""


@dg.asset(group_name=GROUP, owners=OWNERS[GROUP], kinds={"duckdb", "pandas"}, deps=[consensus_signals])
def signal_labels(config: LabelConfig, duckdb: DuckDBResource) -> dg.MaterializeResult:
    """Every consensus signal followed by the triple-barrier rule to its exit: outcome, exit date and
    price, net return after costs, MFE, MAE, days held, and the label (1 when the net return is above
    zero; missing while the signal is open). Training, the replay, the outcomes and the summary all
    read this one table. Incremental: after a change from day C, only the signals not settled before C
    (:data:`LABELS_SETTLED`) are followed again, on the prices from the oldest of them."""
    settings = settings_key(TradingCosts(config.cost_bps_per_side))
    with duckdb.get_connection() as conn:
        plan = changes.plan(conn, "signal_labels", ["consensus_signals", SOURCE], settings)
        to_follow, prices = None, None
        if plan.whole:
            to_follow, prices = read_table(conn, "consensus_signals"), read_table(conn, "price_history", columns=BAR_COLUMNS)
        elif not plan.nothing:
            day = plan.since.date()
            settled = conn.execute(f"SELECT symbol, date, true AS settled FROM signal_labels WHERE {LABELS_SETTLED}", [day, day]).df()
            consensus = read_table(conn, "consensus_signals")
            marked = consensus.merge(settled.astype({"date": "datetime64[ns]"}), on=KEY, how="left")
            to_follow = consensus[marked["settled"].isna().to_numpy()]
            prices = read_table(conn, "price_history", since=to_follow["date"].min() if len(to_follow) else plan.since, columns=BAR_COLUMNS)
        if to_follow is not None:
            outcomes = follow_signals(prices, to_follow, OutcomeParams(TradingCosts(config.cost_bps_per_side)))
            fresh = pd.concat([to_follow[KEY + LEVELS].reset_index(drop=True), outcomes.reset_index(drop=True)], axis=1)
            fresh["cost_bps_per_side"] = config.cost_bps_per_side

            def log(c) -> None:  # rows change from the oldest signal followed again, before the inputs' change
                changes.record(c, "signal_labels", plan, settings, fresh["date"].min() if len(fresh) else None, plan.whole)

            if plan.whole:
                replace_tables(conn, {"signal_labels": fresh}, then=log)
            else:
                replace_settled_rows(conn, fresh, plan.since, log)
        stored = conn.execute("SELECT outcome, count(*) n, count(label) resolved, avg(label) success FROM signal_labels "
                              "GROUP BY 1 ORDER BY n DESC, outcome").df()
    resolved = int(stored["resolved"].sum())
    return dg.MaterializeResult(metadata=tidy({
        **table_metadata(duckdb, "signal_labels"),
        "recomputed": "nothing (no input changed)" if to_follow is None else f"{len(to_follow):,} signals followed ({plan.why})",
        "rows_recomputed": 0 if to_follow is None else len(to_follow),
        "outcomes": dg.MetadataValue.json(dict(zip(stored["outcome"], stored["n"].astype(int)))),
        "resolved": resolved,
        "success_rate": float((stored["success"] * stored["resolved"]).sum() / resolved) if resolved else float("nan"),
        "definition": "success = net return at the triple-barrier exit, after round-trip costs, above zero",
        "cost_bps_per_side": config.cost_bps_per_side,
    }))


def replace_settled_rows(conn, fresh: pd.DataFrame, since: pd.Timestamp, then) -> None:
    """In one transaction: drop the labels not settled before ``since``, insert ``fresh`` (those
    signals followed again), and run ``then`` (the change log)."""
    with transaction(conn):
        conn.execute(f"DELETE FROM signal_labels WHERE NOT coalesce({LABELS_SETTLED}, false)", [since.date(), since.date()])
        write_rows(conn, "signal_labels", fresh, create=False)
        then(conn)


@dg.asset(group_name=GROUP, owners=OWNERS[GROUP], kinds={"duckdb", "pandas"}, deps=[consensus_signals, market_context])
def signal_features(context: dg.AssetExecutionContext, duckdb: DuckDBResource) -> dg.MaterializeResult:
    """The model's inputs for every consensus signal: only what is known at D's close. Incremental:
    the signals of the days whose consensus or inputs changed, with the strategies' look-back."""
    def compute(frames: list, first: pd.Timestamp) -> tuple[dict[str, pd.DataFrame], None]:
        consensus, prices, benchmark, context, universe, fundamentals = frames
        panel = build_strategy_panel(prices, universe, fundamentals, benchmark)
        features = build_features(consensus.reset_index(drop=True), panel, context)
        return {"signal_features": pd.concat([consensus[KEY].reset_index(drop=True), features], axis=1)}, None

    done = recompute_asset(context, duckdb, Incremental(
        "signal_features", ["consensus_signals", SOURCE], FEATURES_KEY,
        lambda conn, since: changes.lookback_start(conn, since, STRATEGY_LOOKBACK_DAYS),
        ["consensus_signals", "price_history", "benchmark_history", "market_context"], ["universe", "fundamentals"]), compute)
    shares = ", ".join(f'avg(("{f}" IS NULL OR isnan("{f}"))::DOUBLE) AS "{f}"' for f in FEATURES)
    missing = stored_query(duckdb, f"SELECT {shares} FROM signal_features").iloc[0]
    return dg.MaterializeResult(
        metadata=tidy({
            **table_metadata(duckdb, "signal_features"),
            "recomputed": done.note,
            "features": dg.MetadataValue.json(FEATURES),
            "missing_share": dg.MetadataValue.json({k: float(v) for k, v in missing[missing > 0].items()}),
        })
    )


FEATURES_KEY = settings_key(FEATURES)
"""The feature list is the features' setting: a new feature recomputes every row."""


class TrainingConfig(dg.Config):
    """How the model is trained (the replay trains the same way)."""

    min_labelled_signals: int = Field(default=200, description="Resolved signals needed to train at all.")
    folds: int = Field(default=4, description="Walk-forward folds before the hold-out (reported, not used to choose).")
    holdout_fraction: float = Field(default=0.2, description="The most recent share of days held out to decide promotion.")
    calibration_fraction: float = Field(default=0.25, description="The most recent share of training days that calibrates.")
    calibration_days: int | None = Field(default=None, description="Or: calibrate on the last this many trading days.")
    calibration: str = Field(default="sigmoid", description="sigmoid (Platt) or isotonic.")
    expected_return: str = Field(default="regression", description="payoff, regression or conditional (README compares them).")
    learning_rate: float = 0.05
    max_iter: int = 100
    max_leaf_nodes: int = 7
    min_samples_leaf: int = 100
    auc_tolerance: float = Field(default=0.0, description="How much lower an AUC than the champion's may still be promoted.")

    def model_params(self, costs: TradingCosts) -> ModelParams:
        return ModelParams(self.learning_rate, self.max_iter, self.max_leaf_nodes, self.min_samples_leaf, calibration=self.calibration,
                           expected_return=self.expected_return, cost_bps_per_side=costs.bps_per_side)

    def split_params(self) -> SplitParams:
        return SplitParams(self.folds, self.holdout_fraction, self.calibration_fraction, calibration_days=self.calibration_days)


def learning_data(duckdb: DuckDBResource) -> tuple[pd.DataFrame, pd.DataFrame, pd.DatetimeIndex]:
    """Every consensus signal with its features and quality tier, and its label row (same order), and the trading days."""
    consensus, features, labels, prices = load_tables(duckdb, "consensus_signals", "signal_features", "signal_labels", "price_history")
    # consensus_confidence is a feature; the tier is what the recommendation steps aside to (earn-its-place rule)
    signals = consensus[KEY + ["quality_tier"]].merge(features, on=KEY, how="left", validate="one_to_one")
    labels = signals[KEY].merge(labels, on=KEY, how="left", validate="one_to_one")
    calendar = pd.DatetimeIndex(np.sort(prices["date"].unique()))
    return signals, labels, calendar


@dataclass(frozen=True)
class Candidate:
    """What `signal_model` hands to `signal_model_evaluation`: the registered version, the training
    result and what it was trained on; or, when nothing was trained, only why (``version`` None)."""

    version: str | None
    reason: str = ""
    result: TrainingResult | None = None
    params: ModelParams | None = None
    rule: PromotionRule | None = None


@dataclass(frozen=True)
class Evaluation:
    """What `signal_model_evaluation` hands to `champion_model`: whether the version is promoted, and why."""

    promote: bool
    version: str | None
    reason: str


def mlflow_links(store: ModelStore, version) -> dict[str, dg.MetadataValue]:
    """Links from an asset to a version's page in the MLflow UI and to the run that trained it."""
    run_id = store.training_run_id(version)
    return {"mlflow_version": dg.MetadataValue.url(store.version_url(version)),
            **({"mlflow_run": dg.MetadataValue.url(store.run_url(run_id))} if run_id else {})}


def training_datasets(database: str, X: pd.DataFrame, known: pd.DataFrame, result: TrainingResult, open_signals: int) -> list[DatasetInput]:
    """The rows a training run learned from (context `training`: every resolved signal, features
    and label) and the hold-out that judged it (context `evaluation`), as MLflow datasets whose tags
    give their window and counts."""
    rows = pd.concat([known[KEY].reset_index(drop=True), X.reset_index(drop=True), known[["label"]].astype(int).reset_index(drop=True)], axis=1)
    holdout = rows.iloc[result.holdout_index]

    def window(frame: pd.DataFrame) -> dict[str, str]:
        return {"first_signal_date": f"{frame['date'].min():%Y-%m-%d}", "last_signal_date": f"{frame['date'].max():%Y-%m-%d}",
                "signals": str(len(frame)), "made_money": str(int(frame["label"].sum()))}

    return [
        DatasetInput("resolved_consensus_signals", rows, "training", database, {
            **window(rows), "label_end": f"{result.label_end:%Y-%m-%d}", "open_signals_left_out": str(open_signals)}),
        DatasetInput("holdout", holdout, "evaluation", database, {
            **window(holdout), "note": "judged the classifier trained before it; the served model is refit on these rows too"}),
    ]


def training_description(known: pd.DataFrame, result: TrainingResult, open_signals: int) -> str:
    """What a training run learned, on which window, and how its hold-out went: the run's and the
    version's description in the MLflow UI (Markdown; the first line plain, as the versions table
    shows it unrendered)."""
    h = result.holdout_metrics
    return (
        f"Trained on {len(known):,} resolved consensus signals dated {known['date'].min():%Y-%m-%d} → "
        f"{known['date'].max():%Y-%m-%d}, labels (triple-barrier exits, net of costs) resolved up to "
        f"{result.label_end:%Y-%m-%d}; {int(known['label'].sum()):,} made money. {open_signals:,} signals still "
        "open were left out.\n\n"
        f"**Hold-out** {result.holdout_start:%Y-%m-%d} → {result.holdout_end:%Y-%m-%d} ({len(result.holdout_index):,} signals, "
        f"judged with a classifier trained before it): ROC AUC {h['roc_auc']:.3f}, Brier {h['brier']:.4f} "
        f"(base-rate predictor {h['brier_base_rate']:.4f}), ECE {h['ece']:.3f}.\n\n"
        "The served model is refit on every resolved label, calibrated on the most recent training days. "
        "Folds: `tables/folds.csv`; features: `features.json` and the model's signature."
    )


@dg.asset(group_name=GROUP, owners=OWNERS[GROUP], kinds={"mlflow", "scikitlearn"}, deps=[signal_features, signal_labels])
def signal_model(context: dg.AssetExecutionContext, config: TrainingConfig, duckdb: DuckDBResource, mlflow: MLflowResource):
    """Train: a new model version on every resolved label (walk-forward folds and a purged, embargoed
    hold-out judge classifiers trained before them; the served model is then refit on everything and
    calibrated on the most recent slice), logged to MLflow with alias `challenger`."""
    signals, labels, calendar = learning_data(duckdb)
    resolved = labels["label"].notna().to_numpy()
    y = labels.loc[resolved, "label"].to_numpy(dtype=int)
    if len(y) < config.min_labelled_signals or len(np.unique(y)) < 2:
        reason = (f"not trained: {len(y)} resolved consensus signals ({int(y.sum()) if len(y) else 0} made money); "
                  f"at least {config.min_labelled_signals} with both outcomes are needed")
        context.log.warning(reason)
        return dg.Output(Candidate(version=None, reason=reason), metadata={"decision": "not trained", "reason": reason, "resolved_signals": len(y)})
    params = config.model_params(recorded_costs(labels))
    X = signals.loc[resolved, FEATURES].reset_index(drop=True)
    known = labels[resolved].reset_index(drop=True)
    result = train(X, y, known["return_net"].to_numpy(), known["date"], known["exit_date"], known["validity_days"], calendar,
                   config.split_params(), params)
    holdout_y = y[result.holdout_index]
    table = reliability_table(holdout_y, result.holdout_probability)
    chart = calibration_chart(table)
    folds = pd.DataFrame(result.fold_metrics).T.rename_axis("fold")
    metrics = {f"holdout_{k}": v for k, v in result.holdout_metrics.items()}
    metrics |= {f"{fold}_{k}": v for fold, values in result.fold_metrics.items() for k, v in values.items()}
    tags = {
        "label_end": f"{result.label_end:%Y-%m-%d}",
        "holdout_start": f"{result.holdout_start:%Y-%m-%d}",
        "holdout_end": f"{result.holdout_end:%Y-%m-%d}",
        "data_end": f"{calendar.max():%Y-%m-%d}",
        "model_params": pd.Series(asdict(params)).to_json(),
    }
    run_params = {**asdict(params), **config.model_dump(), "resolved_signals": len(y), **{f"samples_{k}": v for k, v in result.samples.items()}}
    store = mlflow.store()
    open_signals = int((~resolved).sum())
    version = store.training.log_challenger(result.scorer, X, run_params, metrics, tags, {"calibration.png": chart},
                                   {"reliability.csv": table.rename_axis("bin"), "folds.csv": folds},
                                   description=training_description(known, result, open_signals),
                                   datasets=training_datasets(duckdb.database, X, known, result, open_signals))
    context.log.info(f"version {version.version} registered as @{CHALLENGER}; learned labels up to {result.label_end:%Y-%m-%d}")
    holdout = result.holdout_metrics
    return dg.Output(
        Candidate(version=str(version.version), result=result, params=params, rule=PromotionRule(auc_tolerance=config.auc_tolerance)),
        metadata=tidy({
            "model_version": dg.MetadataValue.text(str(version.version)),
            **mlflow_links(store, version),
            "label_end": f"{result.label_end:%Y-%m-%d}",
            "holdout_window": f"{result.holdout_start:%Y-%m-%d} → {result.holdout_end:%Y-%m-%d}",
            "resolved_signals": len(y),
            "open_signals": open_signals,
            "holdout_roc_auc": holdout["roc_auc"],
            "holdout_brier": holdout["brier"],
            "base_rate_brier": holdout["brier_base_rate"],
            "holdout_ece": holdout["ece"],
            "holdout_metrics": dg.MetadataValue.json({k: round(v, 4) for k, v in holdout.items()}),
            "fold_metrics": table_preview(folds[["count", "roc_auc", "brier", "ece"]], rows=len(folds), index=True) if len(folds) else "none",
            "calibration_chart": png(chart, "calibration on the hold-out"),
        }),
    )


@dg.asset(group_name=GROUP, owners=OWNERS[GROUP], kinds={"mlflow"})
def signal_model_evaluation(context: dg.AssetExecutionContext, duckdb: DuckDBResource, mlflow: MLflowResource, signal_model: Candidate):
    """Evaluate: the challenger against the champion on the challenger's hold-out, the champion's
    method refit on the same data before the hold-out (see `core.signal_model.PromotionRule`).
    The decision and both sets of figures go to the version's tags and to `model_evaluations`."""
    if signal_model.version is None:
        return dg.Output(Evaluation(False, None, signal_model.reason), metadata={"decision": "nothing to evaluate"})
    store = mlflow.store()
    champion = store.version_by_alias(CHAMPION)
    result = signal_model.result
    signals, labels, _ = learning_data(duckdb)
    resolved = labels["label"].notna().to_numpy()
    X = signals.loc[resolved, FEATURES].reset_index(drop=True)
    y = labels.loc[resolved, "label"].to_numpy(dtype=int)
    champion_params = store.params_of(champion) if champion is not None else None
    verdict = judge(result, X, y, signal_model.params, champion_params, champion is not None, signal_model.rule)
    version = store.version(signal_model.version)
    decision = "promote" if verdict.promote else "keep champion"
    store.tag(version, {"evaluation": decision, "evaluation_reason": verdict.reason,
                        "champion_compared": str(champion.version) if champion is not None else "none"})
    store.add_to_description(version, (
        f"**Promotion rule** ({pd.Timestamp.now(tz='UTC'):%Y-%m-%d %H:%M} UTC, against "
        f"{f'champion version {champion.version}' if champion is not None else 'no champion'}): "
        f"{'promote' if verdict.promote else 'keep the champion'} — {verdict.reason}.\n\n"
        f"Whether this version serves now is the `@{CHAMPION}` alias, not this text: every move of it is a "
        f"`{CHAMPION_MOVE}` run in the experiment."))
    row = pd.DataFrame([{
        "model_version": signal_model.version, "champion_version": str(champion.version) if champion is not None else None,
        "evaluated_at": pd.Timestamp.now(tz="UTC").tz_localize(None), "decision": decision,
        "reason": verdict.reason, "holdout_start": result.holdout_start, "holdout_signals": len(result.holdout_index),
        **{f"challenger_{k}": result.holdout_metrics[k] for k in ("roc_auc", "brier", "brier_base_rate", "ece")},
        **{f"champion_{k}": (verdict.champion_metrics or {}).get(k, np.nan) for k in ("roc_auc", "brier")},
    }])
    with duckdb.get_connection() as conn:
        earlier = read_table(conn, "model_evaluations")
        replace_table(conn, "model_evaluations", pd.concat([earlier, row], ignore_index=True) if earlier is not None else row)
    context.log.info(f"version {signal_model.version}: {verdict.reason}")
    return dg.Output(Evaluation(verdict.promote, signal_model.version, verdict.reason),
                     metadata={**table_metadata(duckdb, "model_evaluations"), "decision": decision, "reason": verdict.reason,
                               "compared_with": dg.MetadataValue.text(row["champion_version"].iloc[0] or "none")})


@dg.asset(group_name=GROUP, owners=OWNERS[GROUP], kinds={"mlflow"})
def champion_model(context: dg.AssetExecutionContext, mlflow: MLflowResource, signal_model_evaluation: Evaluation) -> dg.MaterializeResult:
    """Promote: `@champion` moves to the challenger when the evaluation says so (a person may also
    move it in the MLflow UI; scoring follows whatever it points at). Each move is logged as a
    `champion_move` run (`ChampionLog.move`), not as a tag that would go stale."""
    store = mlflow.store()
    event = None
    if signal_model_evaluation.promote:
        version = store.version(signal_model_evaluation.version)
        event = store.moves.move(version, moved_by=f"the pipeline (champion_model, Dagster run {context.run_id})",
                                    reason=signal_model_evaluation.reason)
        context.log.info(f"@{CHAMPION} -> version {version.version}")
    champion = store.version_by_alias(CHAMPION)
    return dg.MaterializeResult(metadata={
        "champion_version": dg.MetadataValue.text(str(champion.version) if champion is not None else "none"),
        "moved": signal_model_evaluation.promote,
        "reason": signal_model_evaluation.reason,
        "label_end": champion.tags.get("label_end", "unknown") if champion is not None else "none",
        **(mlflow_links(store, champion) if champion is not None else {}),
        **({"mlflow_move": dg.MetadataValue.url(store.run_url(event))} if event else {}),
    })


@dg.asset(group_name=GROUP, owners=OWNERS[GROUP], kinds={"duckdb", "mlflow", "scikitlearn"}, deps=[signal_features, signal_labels])
def signal_replay(context: dg.AssetExecutionContext, config: TrainingConfig, duckdb: DuckDBResource, mlflow: MLflowResource,
                  retraining: RetrainingPolicy) -> dg.MaterializeResult:
    """The walk-forward replay of the whole lifecycle over history (`core.replay`): at each
    retraining point of the policy, train and calibrate on the labels resolved by then, promote by the
    same rule, and score the signals until the next point, at their own close. Its scores are the
    as-issued record of history in `signal_scores` (rebuilt by each replay; scores issued live are
    kept and never replaced), each retraining is in `replay_retrains`, and the comparison of the
    expected-return designs is logged to MLflow."""
    signals, labels, calendar = learning_data(duckdb)
    costs = recorded_costs(labels) if len(labels) else DEFAULT_COSTS  # no label: nothing is trained, the costs go unused
    params = ReplayParams(config.min_labelled_signals, retraining.min_new_outcomes, retraining.max_champion_age_days,
                          SplitParams(0, config.holdout_fraction, config.calibration_fraction, calibration_days=config.calibration_days),
                          config.model_params(costs), PromotionRule(auc_tolerance=config.auc_tolerance))
    # The trainings at the retraining points are independent: on a Dask cluster when one is configured (engine).
    result = walk_forward_replay(signals[FEATURES], labels, signals["consensus_confidence"].to_numpy(), calendar, params, ordered_map)
    issued = pd.concat([signals[KEY + ["consensus_confidence", "quality_tier"]], labels[["signal_type"]], result.scores], axis=1)
    with duckdb.get_connection() as conn:
        stored = stored_scores(conn)
    live = stored[stored["origin"] == "live"]
    # The earn-its-place rule on each signal's day, judged on the replay's own record known by then.
    own_record = known_on(pd.concat([labels, result.scores[["ml_probability", "expected_return"]]], axis=1))
    fresh = with_earned_place(issued[issued["ml_status"] == "scored"], own_record)
    fresh = fresh[~pd.MultiIndex.from_frame(fresh[KEY]).isin(pd.MultiIndex.from_frame(live[KEY]))]
    rows = score_rows(fresh, origin="replay", issued_on=fresh["date"], model_version=fresh["model_id"], label_end=fresh["model_label_end"])

    trades = pd.concat([labels, result.scores.drop(columns="issued_on")], axis=1)
    trades = trades[(trades["ml_status"] == "scored") & trades["label"].notna()]
    designs = compare_designs(trades, calendar) if len(trades) else pd.DataFrame()
    by_year = trades.groupby(trades["date"].dt.year).apply(
        lambda g: pd.Series({"signals": len(g), "success_rate": g["label"].mean(), "mean_probability": g["ml_probability"].mean(),
                             "ece": expected_calibration_error(g["label"], g["ml_probability"])})) if len(trades) else pd.DataFrame()
    reliability = reliability_table(trades["label"], trades["ml_probability"]) if len(trades) else pd.DataFrame()
    ece = expected_calibration_error(trades["label"], trades["ml_probability"]) if len(trades) else float("nan")
    meaning = band_records(trades) if len(trades) else pd.DataFrame()
    retrains = result.retrains if len(result.retrains) else pd.DataFrame({"point": pd.Series(dtype="datetime64[ns]"), "decision": pd.Series(dtype=str)})
    with duckdb.get_connection() as conn:
        replace_tables(conn, {SCORES: pd.concat([live, rows], ignore_index=True)[SCORE_COLUMNS], "replay_retrains": retrains},
                       then=lambda c: changes.log_change(c, SCORES, None, whole=True))  # the history's scores rebuilt
    chart = calibration_chart(reliability, "Calibration of the as-issued replay scores") if len(reliability) else None
    metrics = {"ece": ece, "scored_signals": float(len(fresh)), "resolved_scored": float(len(trades)),
               "retraining_points": float(len(retrains)), "promotions": float((retrains.get("decision") == "promoted").sum()) if len(retrains) else 0.0,
               **{f"{r.design}_mean_return": r.mean_return for r in designs.itertuples()},
               **{f"{r.design}_spearman": r.spearman for r in designs.itertuples()},
               **{f"ece_{int(year)}": row.ece for year, row in by_year.iterrows()}}
    mlflow.store().training.log_run("walk_forward_replay", {**asdict(params.model), "min_new_outcomes": params.min_new_outcomes,
                                                   "max_age_days": params.max_age_days}, metrics,
                           {"span": f"{trades['date'].min():%Y-%m-%d} → {trades['date'].max():%Y-%m-%d}" if len(trades) else "none"},
                           {"calibration.png": chart} if chart else {},
                           {"designs.csv": designs, "retrains.csv": retrains, "calibration_by_year.csv": by_year.rename_axis("year"),
                            "score_meaning.csv": meaning})
    return dg.MaterializeResult(metadata=tidy({
        **table_metadata(duckdb, "signal_scores", "replay_retrains"),
        "retraining_points": len(retrains),
        "promotions": int(metrics["promotions"]),
        "scored_signals": len(fresh),
        "first_scored": f"{fresh['date'].min():%Y-%m-%d}" if len(fresh) else "none",
        "ece_all": ece,
        "calibration_by_year": table_preview(by_year, rows=len(by_year), index=True) if len(by_year) else "none",
        "designs": table_preview(designs[["design", "recommended", "mean_return", "spearman", "verdict"]], rows=len(designs)) if len(designs) else "none",
        "score_meaning": table_preview(meaning[["signals", "made_money_of_100", "mean_return"]], rows=len(meaning), index=True)
        if len(meaning) else "none",
        "retrains": table_preview(retrains[["point", "labels_known", "decision", "serving"]] if len(retrains) else retrains, rows=80),
        **({"calibration_chart": png(chart, "calibration of the replay")} if chart else {}),
    }))


SCORED_FROM = ["consensus_signals", "market_context", SCORES]
"""What `ml_enhanced_signals` joins per signal: a change in any of them rewrites its rows from the
first signal day changed (the scores log the days of the signals they score)."""


@dg.asset(group_name=GROUP, owners=OWNERS[GROUP], kinds={"duckdb", "mlflow"}, deps=[signal_features, signal_labels, champion_model, signal_replay, market_context],
          freshness_policy=DAILY_FRESHNESS)
def ml_enhanced_signals(context: dg.AssetExecutionContext, duckdb: DuckDBResource, mlflow: MLflowResource) -> dg.MaterializeResult:
    """Every consensus signal with its newest issued score and the market context of its day. Open
    signals no model has scored yet, or last scored by another model than `@champion`, are scored
    now by `@champion` (`ml_probability`, `expected_return`, `ml_recommendation`, ...)
    and the scores are appended to `signal_scores`, issued on the newest price day: a new champion
    adds rows and never rewrites what was issued before. With no champion, or a model that fails,
    every signal still flows, unscored, with the reason. Incremental: only the open signals are
    read for scoring, and only the rows from the first signal day whose inputs changed (the change
    log, and the signals scored now) are rewritten."""
    champion = mlflow.store().version_by_alias(CHAMPION)
    with duckdb.get_connection() as conn:
        plan = changes.unless_missing(conn, changes.plan(conn, "ml_enhanced_signals", SCORED_FROM, ""), SCORES)
        day = pd.Timestamp(conn.execute("SELECT max(date) FROM price_history").fetchone()[0])  # the issue day
        todo, features = signals_due(conn, champion, day)
    scoring = score_with_champion(mlflow.store(), todo, features[FEATURES])
    fresh = scoring.signals[scoring.signals["ml_status"] == "scored"].assign(issued_on=day)
    if len(fresh):  # each component of the recommendation is used only while its record up to today holds
        with duckdb.get_connection() as conn:
            fresh = with_earned_place(fresh, as_issued_record(conn))
    else:
        fresh = fresh.assign(**dict.fromkeys(EARNED_COLUMNS))
    rows = score_rows(fresh, origin="live", issued_on=day, model_version=fresh["model_version"], label_end=scoring.label_end)
    reason = scoring.reason if scoring.status != "scored" else "no score was issued while it was live"
    since = None if plan.whole else changes.earliest(plan.since, rows["date"].min() if len(rows) else None)
    with duckdb.get_connection() as conn:
        enhanced = enhanced_rows(conn, since, rows, reason) if plan.whole or since is not None else None
        changed_from = store_enhanced(conn, plan, since, rows, enhanced, reason)
        described = describe_enhanced(conn)
    if scoring.status != "scored" and len(todo):
        context.log.warning(f"signals not scored: {scoring.reason}")
    return dg.MaterializeResult(
        metadata=tidy({
            **table_metadata(duckdb, "ml_enhanced_signals", SCORES),
            "recomputed": ("the whole history" if plan.whole else "nothing" if enhanced is None
                           else f"the signals from {since:%Y-%m-%d}") + f" ({plan.why}; {len(rows)} scored now)",
            "rows_recomputed": 0 if enhanced is None else len(enhanced),
            "changed_from": "nothing" if changed_from is None else f"{changed_from:%Y-%m-%d}",
            "scored_now": len(rows),
            "scoring": scoring.reason if len(todo) else "nothing to score: every signal has its issued score",
            "champion_version": dg.MetadataValue.text(str(champion.version) if champion is not None else "none"),
            **(mlflow_links(mlflow.store(), champion) if champion is not None else {}),
            **described,
        })
    )


def signals_due(conn, champion, day: pd.Timestamp) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The open signals to score now (none scored yet, or last scored by another model than the
    champion) and their features, same order. Only live signals are scored: a signal that resolved
    before any score was issued keeps none (a score computed after its outcome is known would be no
    forecast of it). Reads the days from the oldest open signal only."""
    first_open = conn.execute("SELECT min(date) FROM signal_labels WHERE outcome = 'open'").fetchone()[0]
    since = pd.Timestamp(first_open) if first_open is not None else day + pd.Timedelta(days=1)  # none open: no row, the columns
    consensus = read_table(conn, "consensus_signals", since=since)
    labels = read_table(conn, "signal_labels", since=since, columns=KEY + ["outcome"])
    newest = newest_scores(stored_scores(conn, since))
    state = consensus[KEY].merge(newest[KEY + ["model_version"]], on=KEY, how="left").merge(labels, on=KEY, how="left")
    open_now = (state["outcome"] == "open").to_numpy()
    other_model = (champion is not None) & state["model_version"].ne(str(getattr(champion, "version", "")))
    todo = consensus[open_now & (state["model_version"].isna() | other_model).to_numpy()].reset_index(drop=True)
    features = todo[KEY].merge(read_table(conn, "signal_features", since=since), on=KEY, how="left", validate="one_to_one")
    return todo, features


def as_issued_record(conn) -> pd.DataFrame:
    """The resolved signals with a score issued on their own day, as the labels stand now (today's
    exits included, which `signal_outcomes` takes in only after scoring): what the earn-its-place
    rule judges each component on."""
    labels = read_table(conn, "signal_labels", columns=KEY + ["entry_date", "exit_date", "return_net", "label"])
    issued = issued_with_signal(stored_scores(conn))[KEY + ["ml_probability", "expected_return"]]
    return known_on(labels.merge(issued, on=KEY, how="inner", validate="one_to_one"))


def stored_scores(conn, since: pd.Timestamp | None = None) -> pd.DataFrame:
    """The issued scores of the signals from ``since`` (all when None); none, typed, before any is stored."""
    stored = read_table(conn, SCORES, since=since)
    return stored if stored is not None else empty_scores()


def enhanced_rows(conn, since: pd.Timestamp | None, issued_now: pd.DataFrame, reason: str) -> pd.DataFrame:
    """The rows of `ml_enhanced_signals` for the signals from ``since`` (all when None): each with its
    newest score (those stored and ``issued_now``) and its day's market context; an unscored one with
    ``reason``."""
    consensus = read_table(conn, "consensus_signals", since=since)
    stored = stored_scores(conn, since)
    scores = pd.concat([stored, issued_now], ignore_index=True)[SCORE_COLUMNS] if len(issued_now) else stored[SCORE_COLUMNS]
    enhanced = consensus.merge(newest_scores(scores).drop(columns=["consensus_confidence"], errors="ignore"), on=KEY, how="left")
    enhanced["ml_status"] = enhanced["ml_status"].fillna("unscored")
    enhanced["ml_reason"] = enhanced["ml_reason"].where(enhanced["ml_status"] == "scored", reason)
    return enhanced.merge(signal_context(read_table(conn, "market_context")), on="date", how="left")


def store_enhanced(conn, plan: changes.Recompute, since: pd.Timestamp | None, issued_now: pd.DataFrame,
                   enhanced: pd.DataFrame | None, reason: str) -> pd.Timestamp | None:
    """In one transaction: append the scores issued now, rewrite the enhanced rows (whole, or from
    ``since``), give every older unscored signal this run's ``reason`` (as a whole recomputation
    would), and log both changes; the first day changed."""
    with transaction(conn):
        created = not table_exists(conn, SCORES)
        if created or len(issued_now):
            write_rows(conn, SCORES, issued_now if len(issued_now) else empty_scores(), create=created)
            changes.log_change(conn, SCORES, None if created else issued_now["date"].min(), whole=created)
        if enhanced is not None:
            if plan.whole:
                write_rows(conn, "ml_enhanced_signals", enhanced, create=True)
            else:
                replace_rows_from(conn, "ml_enhanced_signals", enhanced, since)
        other_reason = "ml_status = 'unscored' AND ml_reason IS DISTINCT FROM ?"
        reworded = conn.execute(f"SELECT min(date) FROM ml_enhanced_signals WHERE {other_reason}", [reason]).fetchone()[0]
        if reworded is not None:
            conn.execute(f"UPDATE ml_enhanced_signals SET ml_reason = ? WHERE {other_reason}", [reason, reason])
        changed_from = None if plan.whole else changes.earliest(since if enhanced is not None else None, reworded)
        changes.record(conn, "ml_enhanced_signals", changes.taking_in_own_change(conn, plan, SCORES), "", changed_from, plan.whole)
    return changed_from


def describe_enhanced(conn) -> dict[str, object]:
    """What the stored table holds: its scored signals, their recommendations, the newest day's."""
    scored, mean_probability = conn.execute(
        "SELECT count(*), avg(ml_probability) FROM ml_enhanced_signals WHERE ml_status = 'scored'").fetchone()
    recommendations = conn.execute("SELECT ml_recommendation, count(*) FROM ml_enhanced_signals WHERE ml_status = 'scored' "
                                   "GROUP BY 1 ORDER BY 2 DESC, 1").fetchall()
    newest_day = conn.execute(
        "SELECT symbol, ml_probability, expected_return, ml_recommendation FROM ml_enhanced_signals "
        "WHERE date = (SELECT max(date) FROM ml_enhanced_signals) ORDER BY ml_probability DESC NULLS LAST, symbol").df()
    return {
        "scored": int(scored),
        "issued_rows": int(conn.execute(f"SELECT count(*) FROM {SCORES}").fetchone()[0]),
        "mean_probability": float("nan") if mean_probability is None else float(mean_probability),
        "recommendations": dg.MetadataValue.json({str(k): int(n) for k, n in recommendations}),
        "newest_day": table_preview(newest_day, rows=15),
    }
