"""Features, the training of the signal scorer (MLflow), and the ML-enhanced signals."""

import dagster as dg
import numpy as np
import pandas as pd
from dagster_duckdb import DuckDBResource

from emergent_pipeline.core.features import FEATURES, build_features
from emergent_pipeline.core.ml_metrics import classification_metrics, reliability_table
from emergent_pipeline.core.model_selection import SplitParams, walk_forward_splits
from emergent_pipeline.core.outcomes import OutcomeParams, follow_signals
from emergent_pipeline.core.signal_model import ModelParams, PromotionRule, check_features, promotion_decision, train
from emergent_pipeline.core.strategy_panel import build_strategy_panel
from emergent_pipeline.defs.market.assets import market_context
from emergent_pipeline.defs.tables import load_tables
from emergent_pipeline.defs.metadata import png, table_preview
from emergent_pipeline.defs.ml.resources import MLflowResource
from emergent_pipeline.defs.prices.assets import DAILY_FRESHNESS
from emergent_pipeline.defs.signals.assets import consensus_signals
from emergent_pipeline.model_registry import CHAMPION
from emergent_pipeline.plots import calibration_chart
from emergent_pipeline.scoring import score_with_champion
from emergent_pipeline.storage import replace_table

GROUP = "ml"
KEY = ["symbol", "date"]


@dg.asset(group_name=GROUP, kinds={"duckdb", "pandas"}, deps=[consensus_signals, market_context])
def signal_features(duckdb: DuckDBResource) -> dg.MaterializeResult:
    """The model's inputs for every consensus signal: only what is known at D's close."""
    consensus, prices, universe, fundamentals, benchmark, context = load_tables(
        duckdb, "consensus_signals", "price_history", "universe", "fundamentals", "benchmark_history", "market_context"
    )
    panel = build_strategy_panel(prices, universe, fundamentals, benchmark)
    features = build_features(consensus, panel, context)
    table = pd.concat([consensus[KEY].reset_index(drop=True), features.reset_index(drop=True)], axis=1)
    with duckdb.get_connection() as conn:
        replace_table(conn, "signal_features", table)
    missing = features.isna().mean()
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(table),
            "features": dg.MetadataValue.json(FEATURES),
            "missing_share": dg.MetadataValue.json({k: round(float(v), 4) for k, v in missing[missing > 0].items()}),
        }
    )


class TrainingConfig(dg.Config):
    min_labelled_signals: int = 200
    cost_bps_per_side: float = 10.0
    folds: int = 4
    holdout_fraction: float = 0.2
    calibration_fraction: float = 0.25
    learning_rate: float = 0.05
    max_iter: int = 200
    max_leaf_nodes: int = 15
    min_samples_leaf: int = 40
    auc_tolerance: float = 0.0


@dg.asset(group_name=GROUP, kinds={"mlflow", "scikitlearn"}, deps=[signal_features])
def signal_scorer(context: dg.AssetExecutionContext, config: TrainingConfig, duckdb: DuckDBResource, mlflow: MLflowResource) -> dg.MaterializeResult:
    """Trains the meta-labelling model on the real outcomes of past consensus signals (purged,
    embargoed walk-forward), logs it to MLflow as a new version with alias ``challenger``, and
    moves ``champion`` to it only if it beats the current champion on the same, most recent
    hold-out (lower Brier, no worse AUC), or, with no champion, the base-rate predictor."""
    consensus, features, prices = load_tables(duckdb, "consensus_signals", "signal_features", "price_history")
    levels = ["signal_type", "target_price", "stop_loss", "validity_days"]
    consensus = consensus[KEY + levels].merge(features, on=KEY, how="inner", validate="one_to_one")
    outcomes = follow_signals(prices, consensus, OutcomeParams(config.cost_bps_per_side))
    labelled = outcomes["label"].notna().to_numpy()
    data = consensus[labelled].reset_index(drop=True)
    X, y = data[FEATURES], outcomes.loc[labelled, "label"].to_numpy(dtype=int)
    if len(y) < config.min_labelled_signals or len(np.unique(y)) < 2:
        reason = (
            f"not trained: {len(y)} labelled consensus signals ({int(y.sum()) if len(y) else 0} successes); "
            f"at least {config.min_labelled_signals} with both outcomes are needed"
        )
        context.log.warning(reason)
        return dg.MaterializeResult(metadata={"decision": "not trained", "reason": reason, "labelled_signals": len(y)})
    calendar = pd.DatetimeIndex(np.sort(prices["date"].unique()))
    splits = walk_forward_splits(
        data["date"], outcomes.loc[labelled, "exit_date"].reset_index(drop=True), data["validity_days"], calendar,
        SplitParams(config.folds, config.holdout_fraction, config.calibration_fraction),
    )
    model_params = ModelParams(config.learning_rate, config.max_iter, config.max_leaf_nodes, config.min_samples_leaf)
    result = train(X, y, data["date"], splits, model_params)
    holdout_X, holdout_y = X.iloc[result.holdout_index], y[result.holdout_index]

    store = mlflow.store()
    champion = store.version_by_alias(CHAMPION)
    champion_metrics, champion_note = None, "no champion yet"
    if champion is not None:
        try:
            champion_model = store.load(champion)
            champion_probability = champion_model.predict_proba(check_features(holdout_X, store.features_of(champion)))[:, 1]
            champion_metrics = classification_metrics(holdout_y, champion_probability, float(y[np.r_[splits[-1].fit, splits[-1].calibrate]].mean()))
            champion_note = f"champion version {champion.version} on the same hold-out"
        except Exception as error:  # noqa: BLE001 - a champion that cannot score cannot defend its title
            champion_note = f"champion version {champion.version} could not be evaluated ({type(error).__name__}: {error}); judged against the base rate"
    promote, reason = promotion_decision(result.holdout_metrics, champion_metrics, PromotionRule(auc_tolerance=config.auc_tolerance))

    table = reliability_table(holdout_y, result.holdout_probability)
    chart = calibration_chart(table)
    folds = pd.DataFrame(result.fold_metrics).T
    metrics = {f"holdout_{k}": v for k, v in result.holdout_metrics.items()}
    metrics |= {f"{fold}_{k}": v for fold, values in result.fold_metrics.items() for k, v in values.items()}
    tags = {
        "training_cutoff": f"{result.training_cutoff:%Y-%m-%d}",
        "holdout_start": f"{result.holdout_start:%Y-%m-%d}",
        "holdout_end": f"{result.holdout_end:%Y-%m-%d}",
        "data_end": f"{prices['date'].max():%Y-%m-%d}",
        "promotion_decision": "promoted" if promote else "not promoted",
        "promotion_reason": reason,
        "champion_compared": champion_note,
    }
    params = {**vars(model_params), **config.model_dump(), "labelled_signals": len(y), **{f"samples_{k}": v for k, v in result.samples.items()}}
    version = store.log_challenger(result.model, X, params, metrics, tags, {"calibration.png": chart}, {"reliability.csv": table, "folds.csv": folds})
    if champion_metrics is not None:
        store.tag(version, {f"champion_{k}": round(v, 6) for k, v in champion_metrics.items() if k in ("brier", "roc_auc")})
    if promote:
        store.promote(version, reason)
        champion = version
    context.log.info(f"version {version.version}: {reason}")
    holdout = result.holdout_metrics
    return dg.MaterializeResult(
        metadata={
            "model_version": version.version,
            "decision": "promoted to champion" if promote else "not promoted",
            "reason": reason,
            "champion_compared": champion_note,
            "champion_version": str(champion.version) if champion is not None else "none",
            "holdout_window": f"{result.holdout_start:%Y-%m-%d} → {result.holdout_end:%Y-%m-%d}",
            "training_cutoff": f"{result.training_cutoff:%Y-%m-%d}",
            "labelled_signals": len(y),
            "unlabelled_open_signals": int((~labelled).sum()),
            "holdout_roc_auc": holdout["roc_auc"],
            "holdout_brier": holdout["brier"],
            "holdout_brier_base_rate": holdout["brier_base_rate"],
            "holdout_ece": holdout["ece"],
            "holdout_base_rate": holdout["base_rate"],
            "holdout_metrics": dg.MetadataValue.json({k: round(v, 4) for k, v in holdout.items()}),
            "fold_metrics": dg.MetadataValue.md(folds[["count", "base_rate", "roc_auc", "brier", "brier_base_rate", "ece"]].round(4).to_markdown()),
            "reliability": dg.MetadataValue.md(table.round(3).to_markdown()),
            "calibration_chart": png(chart, "calibration on the hold-out"),
        }
    )


@dg.asset(group_name=GROUP, kinds={"duckdb", "mlflow"}, deps=[signal_features, signal_scorer, market_context], freshness_policy=DAILY_FRESHNESS)
def ml_enhanced_signals(context: dg.AssetExecutionContext, duckdb: DuckDBResource, mlflow: MLflowResource) -> dg.MaterializeResult:
    """Every consensus signal scored in one batch by ``models:/emergent-signal-scorer@champion``:
    ml_probability, ml_recommendation, ml_quality_score, confidence_adjustment, model_version and
    ml_status. With no champion, or a model that fails, every signal still flows, unscored, with
    the reason; the run succeeds and says so here."""
    consensus, features, market = load_tables(duckdb, "consensus_signals", "signal_features", "market_context")
    joined = consensus[KEY].merge(features, on=KEY, how="left", validate="one_to_one")
    scoring = score_with_champion(mlflow.store(), consensus, joined[FEATURES])
    enhanced = scoring.signals.merge(
        market[["date", "regime", "volatility", "trend_20d", "above_sma_50", "above_sma_200"]].rename(
            columns={"regime": "market_regime", "volatility": "market_volatility", "trend_20d": "market_trend_20d",
                     "above_sma_50": "market_above_sma_50", "above_sma_200": "market_above_sma_200"}
        ),
        on="date", how="left",
    )
    with duckdb.get_connection() as conn:
        replace_table(conn, "ml_enhanced_signals", enhanced)
    if scoring.status != "scored":
        context.log.warning(f"signals not scored: {scoring.reason}")
    scored = enhanced[enhanced["ml_status"] == "scored"]
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(enhanced),
            "ml_status": scoring.status,
            "reason": scoring.reason,
            "model_version": scoring.model_version or "none",
            "scored": len(scored),
            "average_ml_probability": float(scored["ml_probability"].mean()) if len(scored) else float("nan"),
            "recommendations": dg.MetadataValue.json(scored["ml_recommendation"].value_counts().to_dict()),
            "newest_day": table_preview(
                enhanced[enhanced["date"] == enhanced["date"].max()].sort_values("ml_probability", ascending=False)[
                    ["symbol", "date", "signal_type", "consensus_confidence", "ml_probability", "ml_recommendation", "ml_quality_score", "confidence_adjustment", "ml_status"]
                ],
                rows=15,
            ),
        }
    )
