"""How the pipeline scales: wall time and peak memory on synthetic panels of N symbols × Y years.

The panels are block bootstraps of the real bundled bars: each synthetic symbol takes one real
symbol's days in blocks of 20 consecutive trading days drawn at random (with replacement), so its
returns, ranges, gaps and volumes keep their real distribution and short-range dependence; prices
are rebuilt from the chained close-to-close returns. Sectors follow the real symbol; there are no
statements (value and fundamental_growth stay silent, as on any file without them).

Two measures, each a real `emergent-pipeline run` in a child process with its own DuckDB file,
MLflow store and Dagster instance (peak memory = the child's maximum resident set, and the largest
sum over the child and, with ``--dask-workers N``, a Dask cluster of a scheduler and N worker
processes on 127.0.0.1 computing the chunks, sampled four times a second from /proc; each step's
seconds and its peak sample are printed too):

- **history**: `daily_refresh` on an empty store, i.e. every asset but training and the replay is
  built over the whole history (what a first run costs);
- **one new day**: one synthetic day appended to the file, `daily_refresh` again.

    .venv/bin/python bench/scale.py --symbols 505 --years 5
    .venv/bin/python bench/scale.py --symbols 1090 --years 20 --years-small 1
    .venv/bin/python bench/scale.py --symbols 1090 --years 20 --dask-workers 2
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from emergent_pipeline.dask_cluster import local_cluster
from emergent_pipeline.engine import SCHEDULER
from emergent_pipeline.paths import private_stores
from emergent_pipeline.sources.bundled import PRICES_FILE, UNIVERSE_FILE

BLOCK = 20
TRADING_DAYS = 252


def synthetic_panel(symbols: int, years: float, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(prices, universe) of ``symbols`` synthetic symbols over ``years`` business-day years ending
    2018-02-07, block-bootstrapped from the bundled bars (vectorised over symbols and blocks)."""
    rng = np.random.default_rng(seed)
    real = pd.read_parquet(PRICES_FILE).sort_values(["symbol", "date"], kind="mergesort")
    real = real.dropna(subset=["open", "high", "low", "close"])
    real = real[(real[["open", "high", "low", "close"]] > 0).all(axis=1)]
    previous = real.groupby("symbol")["close"].shift(1)
    bars = pd.DataFrame({
        "symbol": real["symbol"].to_numpy(),
        "ret": (real["close"] / previous).to_numpy(),
        "open": (real["open"] / real["close"]).to_numpy(), "high": (real["high"] / real["close"]).to_numpy(),
        "low": (real["low"] / real["close"]).to_numpy(), "volume": real["volume"].to_numpy(),
    }).dropna(subset=["ret"])
    bars = bars[bars["ret"].between(0.5, 2.0)].reset_index(drop=True)  # no unadjusted splits in the blocks
    starts = bars.groupby("symbol").indices
    names = sorted(starts)
    first = np.array([starts[n][0] for n in names])
    length = np.array([len(starts[n]) for n in names])

    days = int(round(years * TRADING_DAYS))
    blocks = -(-days // BLOCK)
    source = np.arange(symbols) % len(names)
    offsets = rng.integers(0, (length[source] - BLOCK)[:, None], size=(symbols, blocks))
    rows = (first[source][:, None, None] + offsets[:, :, None] + np.arange(BLOCK)[None, None, :]).reshape(symbols, -1)[:, :days]
    picked = bars.iloc[rows.ravel()]
    ret = picked["ret"].to_numpy().reshape(symbols, days)
    close = 50.0 * np.cumprod(ret, axis=1)
    calendar = pd.bdate_range(end="2018-02-07", periods=days)
    ticker = np.array([f"S{i:05d}" for i in range(symbols)])
    close_flat = close.ravel()
    prices = pd.DataFrame({
        "symbol": np.repeat(ticker, days), "date": np.tile(calendar.to_numpy(), symbols),
        "open": picked["open"].to_numpy() * close_flat, "high": picked["high"].to_numpy() * close_flat,
        "low": picked["low"].to_numpy() * close_flat, "close": close_flat, "volume": picked["volume"].to_numpy(),
    })
    sectors = pd.read_csv(UNIVERSE_FILE).set_index("symbol")["sector"].reindex(names).to_numpy()
    universe = pd.DataFrame({"symbol": ticker, "name": ticker, "sector": sectors[source], "sub_industry": None})
    return prices, universe


def one_more_day(prices: pd.DataFrame, seed: int = 1) -> pd.DataFrame:
    """Each symbol's next business day: its last bar moved by a return drawn from its own history."""
    rng = np.random.default_rng(seed)
    last = prices.groupby("symbol", sort=False).tail(1)
    move = np.exp(rng.normal(0.0, 0.015, len(last)))
    day = last["date"].max() + pd.offsets.BDay(1)
    return last.assign(date=day, open=last["close"], close=last["close"] * move,
                       high=last["close"] * np.maximum(move, 1.0) * 1.005, low=last["close"] * np.minimum(move, 1.0) * 0.995)


def tree_resident_gb(root: int) -> float:
    """Resident memory of process ``root`` and all its descendants, in GB (from /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(stat.parent.name))
    tree, frontier = [root], [root]
    while frontier:
        frontier = [c for pid in frontier for c in children.get(pid, [])]
        tree += frontier
    pages = 0
    for pid in tree:
        try:
            pages += int(Path(f"/proc/{pid}/statm").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return pages * os.sysconf("SC_PAGE_SIZE") / 1024**3


def run(folder: Path, job: str, config: Path, cluster: list[int] = ()) -> tuple[float, float, float, float, pd.DataFrame]:
    """Wall seconds, peak resident GB (the child's own, and the largest sampled sum over the child and
    the ``cluster``'s processes), the run's own seconds of ``emergent-pipeline run job`` in a child
    process, and its steps (seconds and the peak of the samples taken while each ran)."""
    stores = private_stores(folder)
    env = {**os.environ, **stores}
    log = folder / f"{job}.log"
    start = time.perf_counter()
    with open(log, "w") as out:
        child = subprocess.Popen([sys.executable, "-m", "emergent_pipeline.cli", "run", job, "-c", str(config)],
                                 env=env, stdout=out, stderr=subprocess.STDOUT)
        samples: list[tuple[float, float]] = []
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.25):
                samples.append((time.time(), sum(tree_resident_gb(pid) for pid in (child.pid, *cluster))))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(child.pid, 0)  # this child's own peak, not the largest child so far
        done.set()
        sampler.join()
    wall = time.perf_counter() - start
    text = log.read_text()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{job} failed:\n{text[-3000:]}")
    inside, steps = run_steps(Path(stores["DAGSTER_HOME"]), pd.DataFrame(samples, columns=["time", "gb"]))
    return wall, usage.ru_maxrss / 1024**2, max((gb for _, gb in samples), default=0.0), inside, steps


def run_steps(home: Path, samples: pd.DataFrame) -> tuple[float, pd.DataFrame]:
    """The newest run's own duration as the Dagster instance recorded it (start to end of the run,
    without the process start-up and imports that the wall time includes), and per step its seconds
    and the largest memory sample taken while it ran."""
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home)) as instance:
        newest = instance.get_runs(limit=1)[0]
        stats = instance.get_run_stats(newest.run_id)
        steps = instance.get_run_step_stats(newest.run_id)
    table = pd.DataFrame([{"step": s.step_key, "start": s.start_time, "seconds": s.end_time - s.start_time} for s in steps
                          if s.start_time and s.end_time]).sort_values("start")
    table["peak_gb"] = [samples.loc[samples["time"].between(r.start, r.start + r.seconds), "gb"].max() for r in table.itertuples()]
    return stats.end_time - stats.start_time, table.drop(columns="start").reset_index(drop=True)


def synthetic_inputs(folder: Path, symbols: int, years: float) -> pd.DataFrame:
    """The synthetic panel's prices (returned) and universe as files in ``folder``, with the run
    configuration reading them (``run.yaml``)."""
    prices, universe = synthetic_panel(symbols, years)
    prices.to_parquet(folder / "prices.parquet")
    universe.to_csv(folder / "universe.csv", index=False)
    config = {"resources": {"price_source": {"config": {
        "kind": "file", "path": str(folder / "prices.parquet"), "universe_path": str(folder / "universe.csv"),
        # Blocks of real bars joined at random can put a real large move next to a calm index: adjust, do not block.
        "adjust_splits": True}}}}
    (folder / "run.yaml").write_text(yaml.safe_dump(config))
    return prices


def measure(symbols: int, years: float, keep: bool, dask_workers: int = 0, new_day: bool = True) -> dict:
    folder = Path(tempfile.mkdtemp(prefix=f"scale-{symbols}x{years}-"))
    prices = synthetic_inputs(folder, symbols, years)
    with contextlib.ExitStack() as stack:
        pids: tuple[int, ...] = ()
        if dask_workers:
            cluster = stack.enter_context(local_cluster(dask_workers))
            os.environ[SCHEDULER], pids = cluster.address, cluster.pids
        history = run(folder, "daily_refresh", folder / "run.yaml", pids)
        refresh = None
        if new_day:
            pd.concat([prices, one_more_day(prices)], ignore_index=True).to_parquet(folder / "prices.parquet")
            refresh = run(folder, "daily_refresh", folder / "run.yaml", pids)
        os.environ.pop(SCHEDULER, None)
    if not keep:
        subprocess.run(["rm", "-rf", str(folder)])
    return {"symbols": symbols, "years": years, "rows": len(prices), "history": history, "refresh": refresh, "folder": folder}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=505)
    parser.add_argument("--years", type=float, default=5)
    parser.add_argument("--years-small", type=float, default=None, help="also measure the refresh with this much history")
    parser.add_argument("--keep", action="store_true", help="keep the temporary stores")
    parser.add_argument("--dask-workers", type=int, default=0, help="compute the chunks on a Dask cluster of this many worker processes")
    parser.add_argument("--history-only", action="store_true", help="measure the first build only, not the new day")
    args = parser.parse_args()
    runs = [measure(args.symbols, args.years, args.keep, args.dask_workers, not args.history_only)]
    if args.years_small:
        runs.append(measure(args.symbols, args.years_small, args.keep, args.dask_workers))
    print("chunks computed " + (f"on a Dask cluster of {args.dask_workers} worker processes (127.0.0.1)" if args.dask_workers
                                else "in the run's process"))
    for r in runs:
        print(f"{r['symbols']:,} symbols × {r['years']:g} years ({r['rows']:,} rows):")
        measured = [("history (daily_refresh on an empty store)", r["history"]), ("one new day (daily_refresh after it)", r["refresh"])]
        for name, (wall, peak, tree_peak, inside, steps) in [(n, m) for n, m in measured if m is not None]:
            print(f"  {name:42s} run {inside:6.1f} s, process {wall:6.1f} s, peak {peak:.2f} GB "
                  f"(with its workers, sampled: {tree_peak:.2f} GB)")
            print("    " + steps.to_string(index=False, float_format=lambda v: f"{v:.2f}").replace("\n", "\n    "))
    if len(runs) == 2 and runs[0]["refresh"] and runs[1]["refresh"]:
        print(f"refresh with {args.years:g} years / with {args.years_small:g}: {runs[0]['refresh'][3] / runs[1]['refresh'][3]:.1f}× (goal <= 2)")


if __name__ == "__main__":
    main()
