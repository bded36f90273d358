"""Time the ten strategies plus the consensus over the bundled panel against TA-Lib alone.

The baseline is TA-Lib computing, per symbol, only the indicators the strategies use (the floor
for any implementation that uses them). The pipeline figure covers everything from the validated
price table to the consensus frame: indicators, point-in-time joins, the ten rules, the signals
frame with reasons and indicator values, and the consensus. Best of ``--repeat`` runs each.

    .venv/bin/python bench/strategies_bench.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import talib

from emergent_pipeline.core.consensus import compute_consensus
from emergent_pipeline.core.indicators import SymbolBlocks
from emergent_pipeline.core.strategies.registry import run_strategies
from emergent_pipeline.core.strategy_panel import build_strategy_panel
from emergent_pipeline.sources.bundled import load_bundled_inputs


def talib_only(prices) -> None:
    """Exactly the TA-Lib calls the indicator panel makes, on numpy arrays, nothing else."""
    blocks = SymbolBlocks.of(prices["symbol"])
    close = prices["close"].to_numpy(dtype="float64")
    high = prices["high"].fillna(prices["close"]).to_numpy(dtype="float64")
    low = prices["low"].fillna(prices["close"]).to_numpy(dtype="float64")
    volume = prices["volume"].fillna(0.0).to_numpy(dtype="float64")
    returns = np.nan_to_num(np.r_[np.nan, close[1:] / close[:-1] - 1.0])
    for lo, hi in zip(blocks.starts, blocks.ends):
        c, h, l, v, r = close[lo:hi], high[lo:hi], low[lo:hi], volume[lo:hi], returns[lo:hi]
        talib.RSI(c, 14), talib.ATR(h, l, c, 14), talib.BBANDS(c, 20, 2.0, 2.0)
        talib.SMA(c, 20), talib.SMA(c, 50), talib.SMA(c, 200), talib.SUM(v, 20), talib.SUM(v, 20), talib.SMA(c * v, 20)
        talib.MAX(h, 20), talib.MIN(l, 20), talib.MAX(h, 60), talib.MIN(l, 60), talib.MIN(l, 200)
        talib.STDDEV(r, 20), talib.STDDEV(r, 60), talib.STDDEV(c, 20)
        for _ in range(5):  # the rolling sums of the beta regression
            talib.SUM(r, 60)


def best_of(repeat: int, function, *args) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function(*args)
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    prices, universe, fundamentals, benchmark = load_bundled_inputs()

    baseline, _ = best_of(args.repeat, talib_only, prices)
    panel_time, panel = best_of(args.repeat, build_strategy_panel, prices, universe, fundamentals, benchmark)
    strategies_time, signals = best_of(args.repeat, run_strategies, panel)
    consensus_time, consensus = best_of(args.repeat, compute_consensus, prices, signals)
    total = panel_time + strategies_time + consensus_time

    print(f"bundled panel: {len(prices):,} symbol-days, {prices['symbol'].nunique()} symbols")
    print(f"TA-Lib only (indicators the strategies use): {baseline * 1000:8.1f} ms")
    print(f"strategies + consensus, total:               {total * 1000:8.1f} ms")
    print(f"  indicator panel:  {panel_time * 1000:8.1f} ms")
    print(f"  ten strategies:   {strategies_time * 1000:8.1f} ms  ({len(signals):,} signals)")
    print(f"  consensus:        {consensus_time * 1000:8.1f} ms  ({len(consensus.signals):,} consensus signals)")
    print(f"ratio (total / TA-Lib only): {total / baseline:.1f}  (goal <= 3)")


if __name__ == "__main__":
    main()
