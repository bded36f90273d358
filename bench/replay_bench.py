"""How the walk-forward replay's time grows with the years it replays, in process and on a Dask cluster.

The replay retrains at every point of the retraining policy (every ``min_new_outcomes`` resolved
outcomes or ``max_age_days``) on every label resolved by then, so its trainings grow with the years
replayed and so does each one; they are independent of each other (``core.replay.trained_at``) and
fan out on the engine (``engine.ordered_map``) when ``--dask-workers`` starts a cluster of a
scheduler and that many worker processes on 127.0.0.1. Each measure: a synthetic panel (the scale
bench's block bootstrap of the bundled bars) built by `daily_refresh`, then `replay_history` in a
child process; the printed seconds are the `signal_replay` step's as Dagster recorded them.

    .venv/bin/python bench/replay_bench.py --symbols 200 --years 5 20
    .venv/bin/python bench/replay_bench.py --symbols 200 --years 5 20 --dask-workers 2
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import tempfile
from pathlib import Path

import duckdb

from scale import run, synthetic_inputs

from emergent_pipeline.dask_cluster import local_cluster
from emergent_pipeline.engine import SCHEDULER
from emergent_pipeline.paths import DB_PATH_ENV, private_stores


def measure(symbols: int, years: float, dask_workers: int) -> dict:
    folder = Path(tempfile.mkdtemp(prefix=f"replay-{symbols}x{years}-"))
    synthetic_inputs(folder, symbols, years)
    run(folder, "daily_refresh", folder / "run.yaml")
    with contextlib.ExitStack() as stack:
        pids: tuple[int, ...] = ()
        if dask_workers:
            cluster = stack.enter_context(local_cluster(dask_workers))
            os.environ[SCHEDULER], pids = cluster.address, cluster.pids
        wall, _, tree_peak, inside, steps = run(folder, "replay_history", folder / "run.yaml", pids)
        os.environ.pop(SCHEDULER, None)
    with duckdb.connect(private_stores(folder)[DB_PATH_ENV], read_only=True) as conn:
        points, signals = conn.execute("SELECT (SELECT count(*) FROM replay_retrains), (SELECT count(*) FROM consensus_signals)").fetchone()
    subprocess.run(["rm", "-rf", str(folder)])
    replay = float(steps.loc[steps["step"] == "signal_replay", "seconds"].iloc[0])
    return {"years": years, "signals": signals, "points": points, "replay": replay, "run": inside, "peak": tree_peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=200)
    parser.add_argument("--years", type=float, nargs="+", default=[5, 20])
    parser.add_argument("--dask-workers", type=int, default=0, help="train on a Dask cluster of this many worker processes")
    args = parser.parse_args()
    rows = [measure(args.symbols, years, args.dask_workers) for years in args.years]
    where = f"a Dask cluster of {args.dask_workers} worker processes (127.0.0.1)" if args.dask_workers else "the run's process"
    print(f"walk-forward replay of {args.symbols} synthetic symbols, trainings on {where}:")
    for r in rows:
        print(f"  {r['years']:4g} years: {r['signals']:7,} consensus signals, {r['points']:4} retraining points, "
              f"signal_replay {r['replay']:7.1f} s ({r['replay'] / max(r['points'], 1):.2f} s per point), "
              f"replay_history run {r['run']:7.1f} s, peak {r['peak']:.2f} GB")
    if len(rows) >= 2:
        first, last = rows[0], rows[-1]
        print(f"  {last['years']:g} / {first['years']:g} years: replay {last['replay'] / first['replay']:.1f}× "
              f"(linear would be {last['years'] / first['years']:.1f}×)")


if __name__ == "__main__":
    main()
