"""The ten strategies on the bundled real panel: each fires at a plausible rate, none looks ahead."""


import pandas as pd
import pytest

from emergent_pipeline.core.consensus import compute_consensus
from emergent_pipeline.core.features import build_features
from emergent_pipeline.core.market_context import compute_market_context
from emergent_pipeline.core.strategies.registry import DEFAULT_WEIGHTS, STRATEGIES, run_strategies
from emergent_pipeline.core.strategy_panel import build_strategy_panel

from emergent_pipeline_tests.bundled_inputs import bundled

# Share of symbol-days on which each strategy fires on the bundled panel (619,039 symbol-days).
# The ranges say what the rule is, not what it happened to give: an event rule (a breakout, a
# volume-confirmed thrust, a band touch at an RSI extreme, a confirmed swing low) is rare and must
# be well under 10 %; a state rule (calm low-beta stock, member of a leading sector) holds for weeks
# at a time and sits between a few % and a third of the days. Never 0, never most days.
PLAUSIBLE_SHARE = {
    "momentum": (0.002, 0.05),  # 20-day thrust >= 8 % with volume and trend: a few times a year per stock
    "mean_reversion": (0.005, 0.08),  # close beyond a 2-sigma band with RSI <= 30 / >= 70
    "breakout": (0.001, 0.03),  # tight 20-bar range broken by >= 1 % on 1.5x volume
    "swing": (0.0002, 0.01),  # confirmed fractal low of an RSI <= 40 pull-back inside an uptrend
    "multibagger": (0.0001, 0.01),  # 6-month winner breaking a 60-bar high on a volume surge
    "low_volatility": (0.03, 0.35),  # a state: calm, low-beta, steadily rising stocks
    "sector_rotation": (0.02, 0.30),  # a state: above-sector members of the top 3 sectors
    "pivot_cpr": (0.003, 0.05),  # narrow CPR, close above TC on 1.5x volume, reward/risk >= 1.2
    # Point-in-time statements: a state that holds while a statement is usable and the price agrees.
    "value": (0.005, 0.15),  # P/E <= 15 and under its sector's median, P/B <= 2: a minority of the S&P 500
    "fundamental_growth": (0.01, 0.25),  # ROE and EBITDA margin >= 15 %, EPS growing, above SMA50
}


@pytest.fixture(scope="module")
def run():
    prices, universe, fundamentals, benchmark = bundled()
    panel = build_strategy_panel(prices, universe, fundamentals, benchmark)
    return panel, run_strategies(panel)


SPEC_WEIGHTS = {"momentum": 0.15, "breakout": 0.13, "mean_reversion": 0.12, "value": 0.11, "swing": 0.10, "fundamental_growth": 0.09,
                "multibagger": 0.08, "low_volatility": 0.08, "sector_rotation": 0.07, "pivot_cpr": 0.07}
"""The domain spec's consensus weights (its "Consensus" section)."""


def test_the_registry_holds_the_specs_ten_strategies_with_its_weights():
    assert {name: s.weight for name, s in STRATEGIES.items()} == SPEC_WEIGHTS
    assert sum(SPEC_WEIGHTS.values()) == pytest.approx(1.0)
    assert list(DEFAULT_WEIGHTS) == list(SPEC_WEIGHTS)  # heaviest first, as the spec lists them (the model's feature order)


@pytest.mark.parametrize("name", list(PLAUSIBLE_SHARE))
def test_each_strategy_fires_at_a_plausible_rate(run, name):
    panel, signals = run
    share = (signals["strategy"] == name).sum() / len(panel)
    low, high = PLAUSIBLE_SHARE[name]
    assert low <= share <= high, f"{name} fires on {share:.4%} of symbol-days"
    own = signals[signals["strategy"] == name]
    assert own["symbol"].nunique() > 50  # not one odd stock
    assert own["confidence"].between(0, 1).all() and own["confidence"].nunique() > 10  # graded, not saturated


def test_levels_are_on_the_right_side_of_the_entry(run):
    _, signals = run
    buy = signals[signals["signal_type"] == "BUY"]
    sell = signals[signals["signal_type"] == "SELL"]
    assert (buy["target_price"] > buy["entry_price"]).all() and (buy["stop_loss"] < buy["entry_price"]).all()
    assert (sell["target_price"] < sell["entry_price"]).all() and (sell["stop_loss"] > sell["entry_price"]).all()
    assert set(signals["signal_type"]) == {"BUY", "SELL"}  # mean reversion sells at the upper band


def test_every_signal_carries_its_reason_and_indicator_values(run):
    _, signals = run
    assert signals["reason"].str.len().min() > 10
    sample = signals.groupby("strategy").head(1)
    for row in sample.itertuples():
        values = dict(row.indicators)
        assert values and all(v is None or isinstance(v, float | int) for v in values.values()), row.strategy


@pytest.mark.parametrize("name, first_year", [("value", 2013), ("fundamental_growth", 2014)])
def test_fundamental_strategies_fire_only_where_a_statement_is_usable(run, name, first_year):
    """The first statements (fiscal 2012, period end December) are usable from 2013-03-31; the
    strategies fire from then on, only on symbol-days with a usable statement, and in every year:
    growth needs the statement of the year before, so fundamental_growth starts with fiscal 2013's."""
    panel, signals = run
    own = signals[signals["strategy"] == name]
    assert own["date"].min() >= pd.Timestamp("2013-03-31")
    rows = panel.set_index(["symbol", "date"]).loc[pd.MultiIndex.from_frame(own[["symbol", "date"]])]
    assert rows["fund_available_from"].notna().all()
    assert (rows["fund_available_from"] <= rows.index.get_level_values("date")).all()
    assert own.groupby(own["date"].dt.year).size().reindex(range(first_year, 2019)).notna().all()


def test_no_look_ahead_truncating_after_d_changes_no_signal_up_to_d(run):
    """Everything dated on or before D must be the same whether or not later bars exist."""
    _, full_signals = run
    prices, universe, fundamentals, benchmark = bundled()
    cut = pd.Timestamp("2016-06-30")
    panel = build_strategy_panel(
        prices[prices["date"] <= cut], universe, fundamentals[fundamentals["available_from"] <= cut], benchmark[benchmark["date"] <= cut]
    )
    truncated = run_strategies(panel)
    key = ["strategy", "symbol", "date"]
    before = full_signals[full_signals["date"] <= cut].sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(before, truncated.sort_values(key).reset_index(drop=True), check_exact=False, rtol=1e-9)

    full_consensus = compute_consensus(prices, full_signals).signals
    cut_consensus = compute_consensus(prices[prices["date"] <= cut], truncated).signals
    pd.testing.assert_frame_equal(
        full_consensus[full_consensus["date"] <= cut].reset_index(drop=True), cut_consensus.reset_index(drop=True)
    )

    # The model's features of a signal dated up to the cut are the same without the later bars.
    full_panel, _ = run
    context = compute_market_context(benchmark)
    early = full_consensus[full_consensus["date"] <= cut].reset_index(drop=True)
    full_features = build_features(early, full_panel, context)
    cut_features = build_features(cut_consensus.reset_index(drop=True), panel, compute_market_context(benchmark[benchmark["date"] <= cut]))
    pd.testing.assert_frame_equal(full_features, cut_features, check_exact=False, rtol=1e-9)


def test_consensus_on_the_bundled_panel_is_trainable(run):
    """The spec asks to report how often >= 3 strategies agree; it must leave enough signals to
    learn from (several thousand over five years), spread over every year."""
    panel, signals = run
    prices = panel[["symbol", "date", "open", "high", "low", "close", "volume"]]
    consensus = compute_consensus(prices, signals).signals
    assert 2_000 <= len(consensus) <= 30_000
    assert consensus.groupby(consensus["date"].dt.year).size().min() > 100
    assert consensus["supporters"].min() >= 3 and consensus["agreement"].min() >= 0.5
    assert consensus["composite_score"].min() >= 0.45
