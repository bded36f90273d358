"""Equity curve, Sharpe and drawdown on a two-trade case computed by hand; the out-of-sample guard."""

import numpy as np
import pandas as pd
import pytest

from emergent_pipeline.core.indicators import sorted_panel
from emergent_pipeline.core.performance import (
    BootstrapParams, InSampleError, block_indices, bootstrap_comparison, buy_and_hold, curve_statistics, edge_verdict,
    equity_curve, forward_start, position_returns, trade_statistics,
)

DAYS = pd.bdate_range("2021-06-07", periods=6)
C = 0.001  # cost per side


def prices():
    a = [100, 102, 104, 103, 105, 105]
    b = [50, 50, 49, 51, 51, 51]
    frame = lambda s, c: pd.DataFrame({"symbol": s, "date": DAYS, "open": c, "high": c, "low": c, "close": c, "volume": 1.0})  # noqa: E731
    return pd.concat([frame("A", a), frame("B", b)], ignore_index=True)


def trades():
    return pd.DataFrame(
        [
            # A: bought at 101 on day 1's open, target 104 reached on day 3 (three bars held).
            {"symbol": "A", "signal_type": "BUY", "entry_date": DAYS[1], "entry_fill": 101.0, "exit_price": 104.0, "bars_held": 3},
            # B: bought at 50 on day 2, timed out at day 3's close of 51.
            {"symbol": "B", "signal_type": "BUY", "entry_date": DAYS[2], "entry_fill": 50.0, "exit_price": 51.0, "bars_held": 2},
        ]
    )


def test_two_trades_by_hand():
    daily = position_returns(sorted_panel(prices()), trades(), C)
    a = [102 / 101 - 1 - C, 104 / 102 - 1, 104 / 104 - 1 - C]  # the exit at 104 is measured from day 2's close
    b = [49 / 50 - 1 - C, 51 / 49 - 1 - C]
    assert daily["return"].tolist() == pytest.approx(a + b)
    assert daily["date"].tolist() == [DAYS[1], DAYS[2], DAYS[3], DAYS[2], DAYS[3]]

    curve = equity_curve(daily, DAYS)
    portfolio = [0.0, a[0], (a[1] + b[0]) / 2, (a[2] + b[1]) / 2, 0.0, 0.0]  # cash when nothing is open
    assert curve["return"].tolist() == pytest.approx(portfolio)
    assert curve["positions"].tolist() == [0, 1, 2, 2, 0, 0]
    equity = np.cumprod(1 + np.array(portfolio))
    assert curve["equity"].tolist() == pytest.approx(equity.tolist())

    stats = curve_statistics(curve)
    mean, std = np.mean(portfolio), np.std(portfolio, ddof=1)
    assert stats["sharpe"] == pytest.approx(mean / std * np.sqrt(252))
    assert stats["annual_volatility"] == pytest.approx(std * np.sqrt(252))
    assert stats["total_return"] == pytest.approx(equity[-1] - 1)
    assert np.isnan(stats["annual_return"])  # six days are too few to annualise
    long = pd.DataFrame({"return": np.full(63, 0.001), "equity": 1.001 ** np.arange(1, 64), "drawdown": 0.0})
    assert curve_statistics(long)["annual_return"] == pytest.approx(1.001 ** 252 - 1)
    # Day 2 loses: (104/102 - 1 + 49/50 - 1 - C) / 2 < 0, from the peak reached on day 1.
    assert portfolio[2] < 0 < portfolio[1]
    assert stats["max_drawdown"] == pytest.approx(min(0.0, equity[2] / equity[1] - 1, (equity / np.maximum.accumulate(equity) - 1).min()))


def test_a_sized_portfolio_weighs_each_position_by_its_size():
    daily = position_returns(sorted_panel(prices()), trades(), C)
    a = [102 / 101 - 1 - C, 104 / 102 - 1, 104 / 104 - 1 - C]
    b = [49 / 50 - 1 - C, 51 / 49 - 1 - C]
    curve = equity_curve(daily, DAYS, weights=np.array([0.10, 0.05]))  # A holds twice B's size
    expected = [0.0, a[0], (0.10 * a[1] + 0.05 * b[0]) / 0.15, (0.10 * a[2] + 0.05 * b[1]) / 0.15, 0.0, 0.0]
    assert curve["return"].tolist() == pytest.approx(expected)
    without_b = equity_curve(daily, DAYS, weights=np.array([0.10, 0.0]))  # a size of 0 holds nothing
    assert without_b["positions"].tolist() == [0, 1, 1, 1, 0, 0] and without_b["return"].iloc[2] == pytest.approx(a[1])


def test_sell_trades_gain_when_prices_fall():
    sell = trades().iloc[[1]].assign(signal_type="SELL", exit_price=49.0, bars_held=1)
    daily = position_returns(sorted_panel(prices()), sell, C)
    assert daily["return"].tolist() == pytest.approx([-(49 / 50 - 1) - 2 * C])


def test_trade_statistics_with_a_wilson_interval():
    stats = trade_statistics(pd.Series([0.02, -0.01, 0.03, 0.01, -0.02, np.nan]))
    assert stats["trades"] == 5 and stats["hit_rate"] == 0.6
    assert stats["hit_rate_low"] == pytest.approx(0.2307, abs=1e-3) and stats["hit_rate_high"] == pytest.approx(0.8824, abs=1e-3)
    assert stats["mean_return"] == pytest.approx(0.006) and stats["median_return"] == 0.01


def test_benchmark_buy_and_hold():
    index = pd.DataFrame({"date": DAYS, "close": [10, 11, 12, 11, 12, 13.2]})
    curve = buy_and_hold(index, DAYS[1:])
    assert curve["equity"].iloc[-1] == pytest.approx(13.2 / 11)
    assert curve["drawdown"].min() == pytest.approx(11 / 12 - 1)


def test_the_forward_record_starts_after_the_learned_window():
    label_end = pd.Timestamp("2017-01-06")
    assert forward_start(label_end) == pd.Timestamp("2017-01-07")
    assert forward_start(label_end, pd.Timestamp("2017-01-11")) == pd.Timestamp("2017-01-11")
    with pytest.raises(InSampleError, match="refusing to report signals from 2017-01-04 as out-of-sample: the serving model "
                                            "learned labels that ended as late as 2017-01-06"):
        forward_start(label_end, pd.Timestamp("2017-01-04"))
    with pytest.raises(InSampleError):
        forward_start(label_end, label_end)


def test_day_blocks_are_whole_and_circular():
    idx = block_indices(45, BootstrapParams(block_days=20, replicates=50))
    assert idx.shape == (50, 45)
    steps = np.diff(idx, axis=1)
    # Inside a block the days follow each other (wrapping from 44 to 0); a new block may start anywhere.
    inside = np.ones(44, dtype=bool)
    inside[[19, 39]] = False
    assert np.isin(steps[:, inside], [1, -44]).all()


def test_bootstrap_intervals_by_construction():
    """Every trade of A earns 1 %, every trade of the baseline 0.2 %: whatever days are drawn, the mean
    is 1 % and the difference 0.8 %. With returns of +3 % and -1 % on alternate days, the interval of
    the mean straddles its 1 % point estimate."""
    days = pd.bdate_range("2020-01-01", periods=60)
    trades = pd.DataFrame({"entry_date": days, "return_net": 0.01})
    baseline = pd.DataFrame({"entry_date": np.r_[days, days], "return_net": 0.002})
    result = bootstrap_comparison(trades, baseline, None, days)
    assert result["mean_return_low"] == pytest.approx(0.01) and result["mean_return_high"] == pytest.approx(0.01)
    assert result["vs_unfiltered_low"] == pytest.approx(0.008) and result["vs_unfiltered_high"] == pytest.approx(0.008)
    assert np.isnan(result["sharpe_low"])
    mixed = trades.assign(return_net=np.where(np.arange(60) % 2 == 0, 0.03, -0.01))
    curve = pd.DataFrame({"return": mixed["return_net"].to_numpy()}, index=days)
    spread = bootstrap_comparison(mixed, baseline, curve, days)
    assert spread["mean_return_low"] < 0.01 < spread["mean_return_high"]
    assert spread["sharpe_low"] < spread["sharpe_high"]
    # Against itself the Sharpe difference is 0 in every replicate; doubled returns keep the Sharpe too.
    same = bootstrap_comparison(mixed, mixed, curve, days, baseline_curve=curve)
    assert same["sharpe_vs_baseline_low"] == 0.0 == same["sharpe_vs_baseline_high"]
    doubled = bootstrap_comparison(mixed, mixed, curve.assign(**{"return": 2 * curve["return"]}), days, baseline_curve=curve)
    assert doubled["sharpe_vs_baseline_low"] == pytest.approx(0.0, abs=1e-9) and doubled["sharpe_vs_baseline_high"] == pytest.approx(0.0, abs=1e-9)
    assert np.isnan(spread["sharpe_vs_baseline_low"])  # no baseline curve given


def test_the_verdict_claims_only_what_the_interval_supports():
    assert edge_verdict(99, 0.01, 0.02) == "too few trades to judge (99, fewer than 100)"
    assert edge_verdict(500, 0.001, 0.004).startswith("edge: +0.10 % to +0.40 %")
    assert edge_verdict(500, -0.002, 0.004).startswith("no proven edge: -0.20 % to +0.40 %")
    assert edge_verdict(500, -0.004, -0.001).startswith("worse: ")
