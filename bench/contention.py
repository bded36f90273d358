"""Two jobs on one machine: each job's time alone and beside a twin, with the package's thread bound.

scikit-learn's OpenMP threads spin while they wait for a descheduled sibling, so two processes that
each run a thread per core slow each other down about a hundredfold; the package bounds its native
threads itself (``emergent_pipeline.core.native_threads``). Two workloads, each run alone, then
twice at once (two processes started together); the ratio is a process's time beside its twin over
its time alone:

- **fits**: ``--fits`` fits of the served classifier (``fit_scorer``: 7 leaves, 100 rounds, 6,000
  signals × 53 features), in the thread bound the package sets, and for comparison with one thread
  per usable core (the old behaviour, ``--unbounded-fits`` fits each, as it is slow beside a twin);
- **full_backfill**: `emergent-pipeline run full_backfill` on the bundled data, each process with its
  own DuckDB file, MLflow store and Dagster instance (what `make run` does).

    .venv/bin/python bench/contention.py [--fits 20] [--unbounded-fits 2] [--skip-backfill]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from emergent_pipeline.core.native_threads import THREADS_ENV, thread_limit, usable_cores
from emergent_pipeline.paths import private_stores

ROWS, FEATURES = 6_000, 53


def fit_many(count: int) -> None:
    """``count`` fits of the served classifier on a synthetic set of the served shape."""
    import numpy as np
    import pandas as pd

    from emergent_pipeline.core.native_threads import bounded_native_threads
    from emergent_pipeline.core.signal_model import ModelParams, fit_scorer

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(ROWS, FEATURES)), columns=[f"f{i}" for i in range(FEATURES)])
    X["target_atr"], X["stop_atr"], X["atr_pct"] = 4.0, 2.0, np.abs(rng.normal(0.02, 0.005, ROWS))
    y = (X["f0"] + rng.normal(size=ROWS) > 0).to_numpy(dtype=int)
    returns = np.where(y == 1, 0.03, -0.02) + rng.normal(0, 0.01, ROWS)
    fit, calibrate = np.arange(0, 4_800), np.arange(4_800, ROWS)
    with bounded_native_threads():
        started = time.perf_counter()
        for _ in range(count):
            fit_scorer(X, y, returns, fit, calibrate, ModelParams())
    print(f"{time.perf_counter() - started:.3f}")  # the fits alone, without the interpreter's start and imports


def timed(commands: list[tuple[list[str], dict]]) -> list[float]:
    """Start every command at once; each one's time in seconds: the figure it prints last when it prints
    one (the fits: their own time), else its wall time. Fails on a non-zero exit."""
    started = time.monotonic()
    processes = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for command, env in commands]
    with ThreadPoolExecutor(len(processes)) as waiting:  # each process waited for on its own, to time its own end
        ends = list(waiting.map(lambda process: (*process.communicate(), time.monotonic() - started), processes))
    times = []
    for process, (out, err, wall) in zip(processes, ends):
        if process.returncode != 0:
            raise SystemExit(f"exit {process.returncode}\n{err[-3000:]}")
        last = out.strip().splitlines()[-1] if out.strip() else ""
        times.append(float(last) if last.replace(".", "", 1).isdigit() else wall)
    return times


def alone_and_together(label: str, command: list[str], envs: list[dict]) -> None:
    """``command`` alone in ``envs[0]``, then twice at once in ``envs[1]`` and ``envs[2]``; prints the times and ratios."""
    alone = timed([(command, envs[0])])[0]
    together = timed([(command, envs[1]), (command, envs[2])])
    ratios = [t / alone for t in together]
    print(f"{label:<44} alone {alone:7.1f} s | side by side {together[0]:7.1f} s, {together[1]:7.1f} s | "
          f"ratio {ratios[0]:.2f}×, {ratios[1]:.2f}×", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fits", type=int, default=20)
    parser.add_argument("--unbounded-fits", type=int, default=2)
    parser.add_argument("--skip-backfill", action="store_true")
    parser.add_argument("--fit-worker", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.fit_worker is not None:
        fit_many(args.fit_worker)
        return 0
    print(f"{usable_cores()} usable cores; the package's bound: {thread_limit()} native thread(s) a process "
          f"(${THREADS_ENV}={os.environ.get(THREADS_ENV, '')!r}); `uptime`: {os.getloadavg()[0]:.2f} load before", flush=True)
    bounded = {**os.environ}
    unbounded = {**os.environ, THREADS_ENV: str(usable_cores())}
    me = [sys.executable, __file__, "--fit-worker"]
    alone_and_together(f"{args.fits} fits, bounded", [*me, str(args.fits)], [bounded] * 3)
    if args.unbounded_fits:
        alone_and_together(f"{args.unbounded_fits} fits, {usable_cores()} threads (unbounded)", [*me, str(args.unbounded_fits)],
                           [unbounded] * 3)
    if not args.skip_backfill:
        with tempfile.TemporaryDirectory() as folder:  # an empty store of its own for each of the three runs
            envs = [{**os.environ, **private_stores(Path(folder) / str(n))} for n in range(3)]
            command = [str(Path(sys.executable).parent / "emergent-pipeline"), "run", "full_backfill"]
            alone_and_together("full_backfill (bundled data), bounded", command, envs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
