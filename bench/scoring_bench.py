"""Batch scoring throughput of the signal scorer, in signals per second, and the replay's wall time.

Trains the model on the bundled panel exactly as the ``signal_model`` asset does, registers it as
champion in a temporary sqlite MLflow store, then times (a) the model's batch scoring (probability,
expected return and the guide's fields) on a large batch (the real features, repeated), (b) the
whole ``score_with_champion`` path, registry look-up and model load included, on the real signals,
and (c) the walk-forward replay of the lifecycle over the bundled history.

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
from emergent_pipeline.core.outcomes import follow_signals
from emergent_pipeline.core.replay import walk_forward_replay
from emergent_pipeline.core.signal_model import train
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
    outcomes = pd.concat([consensus[["date", "validity_days"]], follow_signals(prices, consensus)], axis=1)
    resolved = outcomes["label"].notna().to_numpy()
    calendar = pd.DatetimeIndex(np.sort(prices["date"].unique()))
    known = outcomes[resolved].reset_index(drop=True)
    result = train(features[resolved].reset_index(drop=True), known["label"].to_numpy(dtype=int), known["return_net"].to_numpy(),
                   known["date"], known["exit_date"], known["validity_days"], calendar)

    batch = features.sample(args.rows, replace=True, random_state=0).reset_index(drop=True)
    confidence = consensus["consensus_confidence"].sample(args.rows, replace=True, random_state=0).to_numpy()
    times = []
    for _ in range(5):
        start = time.perf_counter()
        result.scorer.score(batch[FEATURES], confidence)
        times.append(time.perf_counter() - start)
    best = min(times)

    with tempfile.TemporaryDirectory() as folder:
        store = ModelStore(f"sqlite:///{Path(folder) / 'mlflow.db'}", str(Path(folder) / "artifacts"))
        version = store.training.log_challenger(result.scorer, features, {}, {}, {}, {}, {})
        store.moves.move(version, moved_by="bench/scoring_bench.py", reason="benchmark")
        start = time.perf_counter()
        scoring = score_with_champion(store, consensus, features)
        end_to_end = time.perf_counter() - start
    assert scoring.status == "scored"

    start = time.perf_counter()
    replay = walk_forward_replay(features, outcomes, consensus["consensus_confidence"].to_numpy(), calendar)
    replay_seconds = time.perf_counter() - start

    print(f"model: calibrated HistGradientBoosting + return regressor, {len(FEATURES)} features, trained on {result.samples}")
    print(f"batch score (probability, expected return, guide fields): {args.rows:,} signals in {best * 1000:.1f} ms -> "
          f"{args.rows / best:,.0f} signals/s (best of 5; goal >= 50,000)")
    print(f"score_with_champion (registry look-up, model load, predict) on the {len(consensus):,} real signals: "
          f"{end_to_end * 1000:.1f} ms -> {len(consensus) / end_to_end:,.0f} signals/s")
    print(f"walk-forward replay over the bundled history: {len(replay.retrains)} retraining points, "
          f"{(replay.scores['ml_status'] == 'scored').sum():,} signals scored, {replay_seconds:.1f} s")


if __name__ == "__main__":
    main()
