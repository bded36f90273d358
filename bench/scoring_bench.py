"""Batch scoring throughput of the signal scorer, in signals per second.

Trains the model on the bundled panel exactly as the ``signal_scorer`` asset does, registers it as
champion in a temporary sqlite MLflow store, then times (a) the model's batch prediction plus the
guide's fields on a large batch (the real features, repeated), and (b) the whole
``score_with_champion`` path, registry look-up and model load included, on the real signals.

    .venv/bin/python bench/scoring_bench.py [--rows 200000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from emergent_pipeline.core.consensus import compute_consensus
from emergent_pipeline.core.features import FEATURES, build_features
from emergent_pipeline.core.market_context import compute_market_context
from emergent_pipeline.core.model_selection import walk_forward_splits
from emergent_pipeline.core.outcomes import follow_signals
from emergent_pipeline.core.signal_model import recommendations, train
from emergent_pipeline.core.strategies.registry import run_strategies
from emergent_pipeline.core.strategy_panel import build_strategy_panel
from emergent_pipeline.model_registry import ModelStore
from emergent_pipeline.scoring import score_with_champion
from emergent_pipeline.sources.bundled import load_bundled_inputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()
    prices, universe, fundamentals, benchmark = load_bundled_inputs()
    panel = build_strategy_panel(prices, universe, fundamentals, benchmark)
    consensus = compute_consensus(prices, run_strategies(panel)).signals
    features = build_features(consensus, panel, compute_market_context(benchmark))
    outcomes = follow_signals(prices, consensus)
    labelled = outcomes["label"].notna().to_numpy()
    calendar = pd.DatetimeIndex(np.sort(prices["date"].unique()))
    dates = consensus.loc[labelled, "date"].reset_index(drop=True)
    splits = walk_forward_splits(dates, outcomes.loc[labelled, "exit_date"].reset_index(drop=True),
                                 consensus.loc[labelled, "validity_days"].reset_index(drop=True), calendar)
    result = train(features[labelled].reset_index(drop=True), outcomes.loc[labelled, "label"].to_numpy(dtype=int), dates, splits)

    batch = features.sample(args.rows, replace=True, random_state=0).reset_index(drop=True)
    confidence = consensus["consensus_confidence"].sample(args.rows, replace=True, random_state=0).to_numpy()
    times = []
    for _ in range(5):
        start = time.perf_counter()
        recommendations(result.model.predict_proba(batch[FEATURES])[:, 1], confidence)
        times.append(time.perf_counter() - start)
    best = min(times)

    with tempfile.TemporaryDirectory() as folder:
        store = ModelStore(f"sqlite:///{Path(folder) / 'mlflow.db'}", str(Path(folder) / "artifacts"))
        version = store.log_challenger(result.model, features, {}, {}, {}, {}, {})
        store.promote(version, "benchmark")
        start = time.perf_counter()
        scoring = score_with_champion(store, consensus, features)
        end_to_end = time.perf_counter() - start
    assert scoring.status == "scored"

    print(f"model: calibrated HistGradientBoosting, {len(FEATURES)} features, trained on {result.samples}")
    print(f"batch predict + guide fields: {args.rows:,} signals in {best * 1000:.1f} ms -> {args.rows / best:,.0f} signals/s (best of 5; goal >= 50,000)")
    print(f"score_with_champion (registry look-up, model load, predict) on the {len(consensus):,} real signals: "
          f"{end_to_end * 1000:.1f} ms -> {len(consensus) / end_to_end:,.0f} signals/s")


if __name__ == "__main__":
    main()
