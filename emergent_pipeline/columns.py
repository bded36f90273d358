"""The data dictionary: what every column of every stored table means, for the Dagster UI's Columns tab.

One short description per column, with its unit or scale (fractions are 0.05 = 5 %; prices are in
the price source's currency, split-adjusted and not dividend-adjusted; horizons count trading days,
i.e. bars) and, where it matters for look-ahead, whether it is known at D's close or uses the future.

:data:`COLUMNS` holds the names that mean the same in every table; :data:`TABLE_COLUMNS` the names
that mean something else in one table. The per-strategy ``<strategy>_vote`` / ``<strategy>_confidence``
columns and the hold-out metrics at a probability threshold (``count_at_45``, ``precision_at_60``,
``lift_at_75``) are described by rules in :func:`describe`.
"""

from __future__ import annotations

import re

from emergent_pipeline.core.consensus import ConsensusParams
from emergent_pipeline.core.performance import PORTFOLIOS
from emergent_pipeline.core.price_quality import EXTREME_MOVE
from emergent_pipeline.core.recommendations import POOR, SKIP, TIERS
from emergent_pipeline.core.strategies.registry import DEFAULT_WEIGHTS, STRATEGY_NAMES

_CONSENSUS = ConsensusParams()
_TIERS = ", ".join(f"{name} (p > {threshold:.2f})" for threshold, name, _ in TIERS)
_QUALITY = ", ".join(f"{quality} (> {threshold:.2f})" for threshold, _, quality in TIERS)
_HEAVIEST, _LIGHTEST = next(iter(DEFAULT_WEIGHTS.items())), list(DEFAULT_WEIGHTS.items())[-1]

_PRICE = "(split-adjusted, not dividend-adjusted; price currency)"
_FUTURE = "Uses the future (label)."

COLUMNS: dict[str, str] = {
    # Keys and bars
    "symbol": "Ticker symbol, upper case, as the price source spells it.",
    "date": "Trading day D of the row; for a signal, the day whose close it was computed at (known at D's close).",
    "open": f"Opening price of the day's bar {_PRICE}.",
    "high": f"Highest price of the day's bar {_PRICE}.",
    "low": f"Lowest price of the day's bar {_PRICE}.",
    "close": f"Closing price of the day's bar {_PRICE}.",
    "volume": "Shares traded that day (missing where the source has none).",
    # Universe
    "name": "Company name.",
    "sector": "Sector label: GICS sector for the bundled S&P 500; NSE or Yahoo sector labels from other sources.",
    "sub_industry": "Most specific industry label (GICS sub-industry; NSE or Yahoo industry); missing where unknown.",
    "market_cap": "Market capitalisation as the source reports it, not point in time (bundled: 2018-02-08 snapshot); price currency.",
    # Strategy signals
    "strategy": "Strategy name, one of the ten (momentum, breakout, mean_reversion, value, swing, ...).",
    "signal_type": "BUY or SELL.",
    "confidence": "The strategy's confidence in [0, 1): 1 − exp(−score/k), monotone, never saturated; known at D's close.",
    "entry_price": "Reference entry: D's close (price currency); the trade itself fills at D+1's open (entry_fill).",
    "target_price": "Take-profit level (price currency); for a consensus signal, the median of its agreeing strategies' targets.",
    "stop_loss": "Stop level (price currency); for a consensus signal, the median of its agreeing strategies' stops.",
    "validity_days": "Horizon in trading days (bars) after D; for a consensus signal, the median of its agreeing strategies'.",
    "reason": "Short text: why the strategy fired, with the figures it used.",
    "indicators": "Indicator values the rule used, name → value (null where missing); all known at D's close.",
    # Consensus
    "consensus_confidence": "Weighted mean confidence (0–1) of the agreeing strategies, by their consensus weights.",
    "agreement": "Share of the active strategies agreeing with the majority: supporters / strategies_active (0.5–1).",
    "supporters": "Number of active strategies agreeing with the signal's direction (at least 3 by default).",
    "strategies_active": "Number of strategies with a signal active on D (fired within its validity), each counted once.",
    "composite_score": f"{_CONSENSUS.composite_formula()} (the consensus config's; these are the defaults).",
    "quality_tier": f"{_CONSENSUS.tier_rule()} (the consensus config's tiers; these are the defaults).",
    "strategies": "Comma-separated names of the strategies agreeing with the signal's direction.",
    "shariah_status": "Shariah status of the symbol on the signal's own day: COMPLIANT, NON_COMPLIANT or UNKNOWN.",
    "weight": f"The strategy's weight in the consensus (default: {_HEAVIEST[0]} {_HEAVIEST[1]:.2f} down to {_LIGHTEST[0]} {_LIGHTEST[1]:.2f}).",
    "agrees": "Whether the strategy's signal has the consensus's direction (only these set its confidence, target, stop).",
    "fired_on": "Day the strategy's active signal fired: on or before the consensus date, within its validity.",
    # Statements and point-in-time fundamentals
    "kind": "Statement kind: annual, quarterly, or snapshot (a vendor's valuation page as of one day).",
    "period_end": "End of the fiscal period (snapshot: its as-of day); balance items are at this day.",
    "filed": "Filing date where the source has one (snapshot: its as-of day); empty otherwise.",
    "available_from": "First day the statement may be used: its filing date, else period_end + 90 calendar days.",
    "usable_until": "Last day it may be used: available_from + 15 months (a newer statement takes over earlier).",
    "revenue": "Revenue over the twelve months to period_end (statement currency).",
    "net_income": "Net income to common shareholders over the twelve months to period_end (statement currency).",
    "ebitda": "EBITDA over the twelve months to period_end (statement currency).",
    "eps": "Earnings per share over the twelve months to period_end, on the statement's own share basis (as filed).",
    "shares": "Shares outstanding at period_end, on the statement's own basis (bundled annual: net income / EPS).",
    "total_debt": "Interest-bearing debt at period_end (statement currency).",
    "total_cash": "Cash plus interest-bearing short-term investments at period_end (statement currency).",
    "receivables": "Receivables at period_end (statement currency).",
    "total_assets": "Total assets at period_end (statement currency).",
    "total_equity": "Shareholders' equity (book value) at period_end (statement currency).",
    "non_permissible_income": "Interest and other non-permissible income as a share of revenue (fraction); no bundled source has it.",
    "eps_growth": "Year-on-year EPS growth against the same-kind statement 10–14 months earlier, relative to |earlier EPS| (fraction).",
    "revenue_growth": "Year-on-year revenue growth against the same-kind statement 10–14 months earlier (fraction).",
    "split_factor": "Product of the share splits after period_end: shares × this and EPS ÷ this are on the prices' basis.",
    "shares_from_period_end": "period_end of the statement whose share count is used (earlier when carried over one gap).",
    # Market context
    "volatility": "Benchmark volatility: sample std of the last 20 daily returns × √252 (fraction, 0.20 = 20 %), known at D's close.",
    "trend_20d": "Benchmark close / its close 20 trading days earlier − 1 (fraction), known at D's close.",
    "sma_50": "50-day simple moving average of the benchmark close (index points).",
    "sma_200": "200-day simple moving average of the benchmark close (index points).",
    "drawdown": "Benchmark close / its highest close of the last 252 trading days − 1 (≤ 0, fraction).",
    "above_sma_50": "Whether the benchmark closed above its 50-day SMA on D (null before 50 bars).",
    "above_sma_200": "Whether the benchmark closed above its 200-day SMA on D (null before 200 bars).",
    "regime": "BULL, BEAR or SIDEWAYS from the benchmark up to D, with hysteresis; UNKNOWN before 200 bars of history.",
    "volatility_level": "High (volatility > 0.25), Medium (> 0.15) or Low; null while volatility is undefined.",
    "trend_strength": "trend_20d as Strong Up (> +5 %), Moderate Up (> +2 %), Weak, Moderate Down (< −2 %) or Strong Down (< −5 %).",
    "market_regime": "Market regime (BULL/BEAR/SIDEWAYS/UNKNOWN) of the signal's day, known at D's close.",
    "market_volatility": "Benchmark's annualised 20-day volatility on the signal's day (fraction), known at D's close.",
    "market_trend_20d": "Benchmark's 20-trading-day return on the signal's day (fraction), known at D's close.",
    "market_above_sma_50": "Whether the benchmark closed above its 50-day SMA on the signal's day.",
    "market_above_sma_200": "Whether the benchmark closed above its 200-day SMA on the signal's day.",
    # Shariah screen
    "status": "COMPLIANT, NON_COMPLIANT or UNKNOWN on day D (a ratio that cannot be computed gives UNKNOWN, never a pass).",
    "standard": "Shariah standard screened under: AAOIFI, DJIM, SP (S&P, the default) or MSCI.",
    "reasons": "Why the status is not COMPLIANT: the rules failed or unknown, separated by '; ' (empty when COMPLIANT).",
    "activity": "Prohibited business activity found from the industry label (e.g. conventional finance, alcohol); null if none.",
    "debt_ratio": "Interest-bearing debt / ratio_basis_value (fraction); null where it cannot be computed.",
    "cash_ratio": "Cash and interest-bearing investments / ratio_basis_value (fraction); null where it cannot be computed.",
    "receivables_ratio": "Receivables (MSCI: receivables + cash) / ratio_basis_value (fraction); null if not computed or not used.",
    "ratio_basis_value": "Ratio denominator: trailing mean daily market cap (S&P 36, DJIM 24 months), D's (AAOIFI), or total assets (MSCI).",
    "statement_period_end": "period_end of the newest statement usable on D (null when none is).",
    # Outcomes and labels (triple barrier)
    "outcome": "target, stop, timeout (exited); open (unlabelled yet); stale (symbol stopped); suspect (path crosses a one-day move "
               f"beyond {EXTREME_MOVE:.0%}: unlabelled). Uses the future.",
    "entry_date": "D+1, the next trading day, when the trade enters at the open; null until that bar exists.",
    "entry_fill": "Entry price: D+1's open (price currency).",
    "exit_date": f"Day of the triple-barrier exit; null while open or stale. {_FUTURE}",
    "exit_price": "Exit price: the target or stop (the open if it gapped through), else the horizon's close. Uses the future.",
    "return_net": f"Net return from entry_fill to exit after round-trip costs (fraction; a SELL gains on falls). {_FUTURE}",
    "mfe": "Maximum favourable excursion from entry_fill while held (fraction, in the trade's direction). Uses the future.",
    "mae": "Maximum adverse excursion from entry_fill while held (fraction, negative when against the trade). Uses the future.",
    "bars_held": "Trading days from entry to exit, both counted (while open: the bars so far). Uses the future.",
    "horizon_end": "Trading day the horizon ends (validity_days bars after D); null until that day exists.",
    "live_until": "First day the signal is no longer live: its exit day, or the day after a stale symbol's last bar; null while open.",
    "label": f"1 if return_net > 0 (made money after costs), 0 if not; null while open or stale. {_FUTURE}",
    "cost_bps_per_side": "Trading cost assumed per side, in basis points (round trip = twice this).",
    # Features (all known at D's close)
    "is_buy": "1 for a BUY signal, 0 for a SELL.",
    "rsi_14": "Wilder RSI(14) of the symbol's close at D (0–100).",
    "volume_ratio": "D's volume / mean volume of the 20 previous bars.",
    "ret_20": "Symbol's close / close 20 trading days earlier − 1 (fraction), known at D's close.",
    "ret_60": "Symbol's close / close 60 trading days earlier − 1 (fraction), known at D's close.",
    "ret_126": "Symbol's close / close 126 trading days earlier − 1 (fraction), known at D's close.",
    "vol_20": "Symbol's annualised volatility: sample std of its last 20 daily returns × √252 (fraction).",
    "vol_60": "Symbol's annualised volatility: sample std of its last 60 daily returns × √252 (fraction).",
    "beta_60": "OLS beta of the symbol's daily returns on the benchmark's over the last 60 bars.",
    "atr_pct": "Wilder ATR(14) / D's close (fraction).",
    "target_atr": "Distance from entry to target in ATR(14) units: |target − entry| / ATR.",
    "stop_atr": "Distance from entry to stop in ATR(14) units: |entry − stop| / ATR.",
    "reward_risk": "|target − entry| / |entry − stop|.",
    "close_sma_20": "D's close / its 20-day SMA − 1 (fraction).",
    "close_sma_50": "D's close / its 50-day SMA − 1 (fraction).",
    "close_sma_200": "D's close / its 200-day SMA − 1 (fraction).",
    "bb_position": "(close − lower band) / (upper − lower band) of Bollinger(20, 2σ) at D: 0 at the lower band, 1 at the upper.",
    "log_market_cap": "Natural log of the point-in-time market cap: shares known at D × D's close (price currency).",
    "earnings_yield": "EPS of the statement usable on D / D's close (fraction; negative for a loss).",
    "book_to_market": "Equity of the statement usable on D / point-in-time market cap at D's close.",
    "roe": "Net income / equity of the statement usable on D (fraction; missing when equity ≤ 0).",
    # Scores
    "issued_on": "Day the score was issued: the signal's own day (replay, or scored with it), else the price day it was scored on.",
    "origin": "live (the daily pipeline's score, never rewritten) or replay (the walk-forward replay's reconstruction of history).",
    "model_version": "Model that issued the score: MLflow model version (live) or replay-YYYY-MM-DD (replay).",
    "model_label_end": "Newest exit date of a label that model learned from (its learned window ends here).",
    "scored_at": "When the score was computed (UTC).",
    "ml_probability": "Calibrated probability (0–1) that the trade's net return after costs is above zero; from features known at D.",
    "expected_return": "Model's estimate of the trade's net return after costs (fraction, 0.01 = 1 %).",
    "ml_recommendation": f"{_TIERS}, else {SKIP}; {SKIP} if expected_return ≤ 0 (SELLs alike); earned components only (recommendation_basis).",
    "model_recommendation": "The model's own recommendation (probability tier and expected-return gate), before the earn-its-place rule.",
    "probability_earned": ("Whether ml_probability was used on the issue day: its rank correlation with net returns resolved in the "
                           "year before was above zero (95 %)."),
    "expected_return_earned": "The same for expected_return.",
    "feature_distance": ("How far the signal's features lie from the rows the scoring model learned from, as a multiple of their 99th "
                         "percentile (robust z-scores)."),
    "out_of_distribution": "feature_distance above 1: farther from the training data than 99 % of its rows; the score extrapolates.",
    "recommendation_basis": "Each component's standing on the issue day in words: used or suspended, with its figures and window.",
    "ml_quality_score": f"Tier of ml_probability alone: {_QUALITY}, else {POOR}.",
    "confidence_adjustment": "ml_probability − consensus_confidence.",
    "ml_status": "scored, or unscored (no champion model, the model failed, or no score was issued while live: see ml_reason).",
    "ml_reason": "Why the signal has no score (null when scored).",
    # Model evaluation, replay and hold-out figures
    "champion_version": "MLflow version of the champion at the evaluation (null when there was none).",
    "evaluated_at": "When the evaluation ran (UTC).",
    "decision": "The promotion decision: promote or keep champion.",
    "holdout_start": "First signal date of the hold-out that judged the model.",
    "holdout_end": "Last signal date of the hold-out that judged the model.",
    "holdout_signals": "Resolved signals in the hold-out.",
    "challenger_count": "Resolved signals in the challenger's hold-out.",
    "challenger_roc_auc": "Challenger's ROC AUC on its hold-out (0.5 = no ranking skill).",
    "challenger_brier": "Challenger's Brier score on its hold-out (lower is better).",
    "challenger_brier_base_rate": "Brier score on the hold-out of a constant prediction at the training base rate: the bar to clear.",
    "challenger_ece": "Challenger's expected calibration error on its hold-out (10 equal-width bins; fraction).",
    "champion_roc_auc": "ROC AUC of the champion's method refit on the same pre-hold-out data, on the same hold-out (null: none).",
    "champion_brier": "Brier score of the champion's method refit on the same pre-hold-out data, on the same hold-out (null: none).",
    "count": "Number of resolved signals.",
    "base_rate": "Share of hold-out signals that made money (fraction).",
    "roc_auc": "ROC AUC of ml_probability on the hold-out (0.5 = no ranking skill).",
    "brier": "Brier score of ml_probability on the hold-out (lower is better).",
    "brier_base_rate": "Brier score on the hold-out of a constant prediction at the training base rate: the bar to clear.",
    "log_loss": "Log loss of ml_probability on the hold-out (lower is better).",
    "ece": "Expected calibration error: count-weighted mean |observed − predicted| over 10 equal-width bins (fraction).",
    "mean_probability": "Mean ml_probability of these signals.",
    # Performance
    "record": "Out-of-sample record: replay (walk-forward replay of history) or forward (serving model, after its label end).",
    "portfolio": (f"One of core.performance.PORTFOLIOS ({len(PORTFOLIOS)}: consensus unfiltered, Kelly-positive equal or sized, "
                  "recommended, the model's own, ML > tiers) or the benchmark."),
    "year": "Calendar year of the signals, or 'all' for the whole window.",
    "trades": "Number of resolved trades.",
    "hit_rate": "Share of trades with a net return above zero after costs (fraction).",
    "hit_rate_low": "Lower end of the 95 % Wilson interval of hit_rate.",
    "hit_rate_high": "Upper end of the 95 % Wilson interval of hit_rate.",
    "mean_return": "Mean net return per trade after costs (fraction).",
    "median_return": "Median net return per trade after costs (fraction).",
    "days": "Trading days in the equity curve.",
    "total_return": "Equity curve's return over the whole period (fraction).",
    "annual_return": "Compound annual return of the equity curve, 252 trading days a year (null under 63 days).",
    "annual_volatility": "Std of the curve's daily returns × √252 (fraction).",
    "sharpe": "Annualised Sharpe ratio of the daily returns, with no risk-free rate.",
    "max_drawdown": "Largest fall of equity from its running peak (≤ 0, fraction).",
    "sharpe_vs_baseline_low": "95 % day-block bootstrap interval (low) of sharpe minus the baseline's: the same signals equal-weighted if sized, else unfiltered.",
    "sharpe_vs_baseline_high": "95 % day-block bootstrap interval (high) of sharpe minus the baseline's (see sharpe_vs_baseline_low).",
    "mean_return_low": "Lower end of the 95 % day-block bootstrap interval of mean_return.",
    "mean_return_high": "Upper end of the 95 % day-block bootstrap interval of mean_return.",
    "sharpe_low": "Lower end of the 95 % day-block bootstrap interval of the Sharpe ratio.",
    "sharpe_high": "Upper end of the 95 % day-block bootstrap interval of the Sharpe ratio.",
    "vs_unfiltered_low": "Lower end of the 95 % bootstrap interval of mean_return minus the unfiltered consensus's (fraction).",
    "vs_unfiltered_high": "Upper end of the 95 % bootstrap interval of mean_return minus the unfiltered consensus's (fraction).",
    "verdict": "What the interval supports: edge, worse, no proven edge, or too few trades (under 100) to judge.",
    "value": "The strategy, market regime or quality tier the row is about (see dimension).",
    "dimension": "What the row breaks the trades down by: strategy (it agreed with the signal), regime or quality_tier.",
    "return": "Portfolio's return that day: equal-weight mean of the open positions, net of costs (0 in cash; fraction).",
    "equity": "Value of 1 invested at the start of the window, compounded daily.",
    "positions": "Positions open that day (0 = in cash).",
    "signals": "Number of resolved signals with a score issued on their own day.",
    "success_rate": "Share of those signals that made money after costs (fraction).",
    "probability": "Band of the issued ml_probability, e.g. 0.45-0.60.",
    "made_money_of_100": "Of 100 resolved signals in the band, how many made money after costs.",
    "made_money_low": "Lower end of the 95 % Wilson interval of made_money_of_100.",
    "made_money_high": "Upper end of the 95 % Wilson interval of made_money_of_100.",
    "first_signal": "Date of the band's first resolved signal in the record.",
    "last_exit": "Exit date of the band's newest resolved signal in the record: its outcomes were all known by then.",
    "bin": "Equal-width band of the issued ml_probability, e.g. 0.6-0.7.",
    "predicted": "Mean issued ml_probability of the signals in the bin.",
    "observed": "Share of the signals in the bin that made money after costs (fraction).",
    # Replay retrainings
    "point": "Retraining day of the walk-forward replay.",
    "labels_known": "Labels resolved (exited) before the retraining day: what the challenger could learn from.",
    "signals_scored": "Consensus signals dated from this retraining day to the next, scored by the serving model.",
    "model_id": "Replay challenger trained at this point: replay-YYYY-MM-DD.",
    "label_end": "Newest exit date of a label the challenger learned from.",
    "serving": "Replay model serving from this point on (null while none has been promoted).",
    # Price rejections
    "source_row": "Position (from 0) of the row in the data the source handed over.",
    "source": "Price source that handed the row over: bundled, yfinance or file.",
    "detected_at": "When the run that rejected the row ran (ISO 8601 text, UTC).",
    # Serving manifest
    "published_at": "When the serving snapshot was published.",
    "price_date": "Newest price day in the snapshot.",
    "signal_date": "Newest signal date in the snapshot's signal_outcomes.",
    "run_id": "Dagster run id.",
    # Change log (asset_changes, asset_inputs)
    "asset": "Table (or source step) the row is about.",
    "upstream": "Input the reader has taken in (a table, or source_data for everything the source step writes).",
    "changed_from": "First day the write changed (null when it rewrote everything).",
    "whole": "Whether the write rewrote every day of the table.",
    "recorded_at": "When the change was logged.",
    "settings": "The settings the reader last ran with, as JSON text (a change recomputes everything).",
    # Run failures
    "job_name": "Dagster job that failed.",
    "failed_at": "When the failure was recorded (UTC).",
    "message": "The failure message (at most 2,000 characters).",
}

TABLE_COLUMNS: dict[str, dict[str, str]] = {
    "benchmark_history": {
        "date": "Trading day of the benchmark bar.",
        "open": "Index level at the open (index points); missing for the universe's equal-weight index.",
        "high": "Index high of the day (index points); missing for the universe's equal-weight index.",
        "low": "Index low of the day (index points); missing for the universe's equal-weight index.",
        "close": "Index close (index points; the equal-weight index starts at 100).",
        "volume": "Index volume as the source gives it; missing for the universe's equal-weight index.",
        "index_name": "Which index this is, in words: the source's (e.g. the S&P 500 index, ^NSEI) or the universe's equal-weight index.",
    },
    "market_context": {
        "date": "Trading day D of the benchmark; every field uses the benchmark up to D's close.",
        "close": "Benchmark close on D (index points; the equal-weight index starts at 100).",
    },
    "price_rejections": {
        "reason": "The first row rule the raw row broke (e.g. missing close, high below low, duplicate (symbol, date)).",
        **{c: f"{c} as given in the rejected raw row (text, unvalidated)." for c in ("symbol", "date", "open", "high", "low", "close", "volume")},
    },
    "price_fingerprints": {
        "through": "The symbol's newest bar the fingerprint covers (the day after which a fetch may add bars without a full pass).",
        "bars": "How many validated bars of the symbol the fingerprint covers.",
        "fingerprint": "Sum mod 2^64 of the hashes of the symbol's bars as given, its listed actions and the source's settings "
                       "(core.price_append).",
    },
    "fundamentals": {
        "eps": "Earnings per share over the twelve months to period_end, on the prices' split-adjusted basis (filed EPS ÷ split_factor).",
        "shares": "Shares on the prices' basis (filed × split_factor); carried from the previous statement when missing.",
    },
    "consensus_breakdown": {
        "date": "Day of the consensus signal the row belongs to.",
        "signal_type": "The strategy's own signal type (BUY or SELL), which may differ from the consensus's.",
        "confidence": "The strategy's confidence in [0, 1) for its active signal.",
        "reason": "The strategy's own text: why it fired, with the figures it used.",
    },
    "shariah_screen": {
        "non_permissible_income": "Non-permissible income as a share of revenue (fraction; AAOIFI only, null under other standards).",
    },
    "signal_features": {
        "market_regime": "Market regime of D as a code: 0 BULL, 1 BEAR, 2 SIDEWAYS, 3 UNKNOWN (−1 if D has no market context).",
        "market_above_sma_50": "1 if the benchmark closed above its 50-day SMA on D, 0 if not (null while undefined).",
        "market_above_sma_200": "1 if the benchmark closed above its 200-day SMA on D, 0 if not (null while undefined).",
        "sector": "GICS sector as a code 0–11 in the fixed alphabetical list features.SECTORS; null when unknown.",
        "eps_growth": "Year-on-year EPS growth of the statement usable on D, relative to |earlier EPS| (fraction).",
    },
    "signal_outcomes": {
        "issued_on": "Day the score was issued: the signal's own day (only scores issued with the signal appear here).",
        "ml_probability": "Calibrated probability (0–1) of a net gain after costs, as issued on the signal's own day (null if none).",
        "ml_status": "scored when a score was issued on the signal's own day, else unscored.",
    },
    "signal_scores": {
        "ml_status": "Always scored: every row is an issued score.",
        "ml_reason": "Always empty: every row is an issued score.",
    },
    "model_evaluations": {
        "model_version": "MLflow version of the challenger that was evaluated.",
        "reason": "Why, in words, with the figures compared.",
    },
    "replay_retrains": {
        "decision": "promoted, kept champion, or not trained (too few labels of both outcomes).",
        "reason": "Why, in words, with the figures compared (or why it could not train).",
    },
    "performance_holdout": {
        "model_version": "MLflow version of the serving (champion) model.",
        "holdout_start": "First signal date of the hold-out that decided the champion's promotion (YYYY-MM-DD).",
        "holdout_end": "Last signal date of that hold-out (YYYY-MM-DD).",
        "count": "Resolved signals in the hold-out.",
        "mean_probability": "Mean ml_probability on the hold-out.",
    },
    "performance_reliability": {
        "count": "Resolved signals with a score issued on their own day in the bin.",
    },
    "performance_calibration": {
        "year": "Calendar year of the signals, or 'all'.",
        "mean_probability": "Mean issued ml_probability of those signals.",
    },
    "performance_tearsheet": {
        "trades": "Resolved trades of the portfolio in the window (null for the benchmark).",
        "cagr": "Compound annual growth rate of the equal-weight daily returns (quantstats).",
        "volatility": "Annualised standard deviation of the portfolio's daily returns (quantstats).",
        "sortino": "Annualised mean daily return over the downside deviation (quantstats).",
        "calmar": "CAGR over the absolute maximum drawdown (quantstats).",
        "longest_drawdown_days": "Calendar days of the longest stretch below a previous peak (quantstats).",
        "win_rate": "Share of the portfolio's trades with a net return above zero.",
        "profit_factor": "Sum of the winning trades' net returns over the absolute sum of the losing ones.",
        "expectancy": "Mean net return per trade after costs (fraction).",
        "exposure": "Share of the window's days with a non-zero portfolio return, i.e. with money in positions (quantstats).",
        "turnover": "Share of the equal-weight book replaced per day: positions opened per day / mean positions held.",
        "alpha": "Annualised alpha against the index bought and held, from daily returns (quantstats greeks).",
        "beta": "Beta of the daily returns to the index's (quantstats greeks).",
    },
    "performance_ic": {
        "score": "The served score analysed: ml_probability or expected_return.",
        "days": "Signal days with at least 5 resolved signals scored on their day (the cross-sections).",
        "ic_mean": "Mean over those days of the Pearson correlation of the score with the net return (IC).",
        "ic_low": "Lower end of the 95 % day-block bootstrap interval of ic_mean.",
        "ic_high": "Upper end of the 95 % day-block bootstrap interval of ic_mean.",
        "ic_std": "Standard deviation of the daily IC.",
        "icir": "ic_mean / ic_std (per day, not annualised).",
        "rank_ic_mean": "Mean daily Spearman correlation of the score with the net return (Rank IC).",
        "rank_ic_low": "Lower end of the 95 % day-block bootstrap interval of rank_ic_mean.",
        "rank_ic_high": "Upper end of the 95 % day-block bootstrap interval of rank_ic_mean.",
        "rank_ic_std": "Standard deviation of the daily Rank IC.",
        "rank_icir": "rank_ic_mean / rank_ic_std (per day, not annualised).",
    },
    "performance_quantiles": {
        "score": "The served score grouped: ml_probability or expected_return.",
        "quantile": "Quintile of the score over the window's resolved signals, 1 = lowest.",
        "score_low": "Lowest score in the quintile.",
        "score_high": "Highest score in the quintile.",
        "signals": "Resolved signals with a score issued on their own day in the quintile.",
    },
    "performance_meaning": {
        "signals": "Resolved signals with a score issued on their own day in the band.",
        "mean_return": "Mean net return after costs of those signals (fraction).",
    },
    "performance_summary": {
        "trades": "Resolved trades of the portfolio in the window or year (null for the benchmark).",
    },
    "performance_breakdown": {
        "trades": "Resolved trades in the group (first out-of-sample window: the replay when there is one).",
    },
    "performance_equity": {
        "date": "Trading day of the equity curve.",
        "return": "Daily return: equal-weight mean of the open positions net of costs (0 in cash); benchmark: the index's.",
        "drawdown": "Equity / its running peak − 1 (≤ 0, fraction).",
        "positions": "Positions open that day (0 = in cash; 1 for the benchmark).",
    },
    "snapshot_manifest": {
        "model_version": "Model version(s) whose scores the open signals carry, comma-separated (two = jobs out of step).",
        "run_id": "Dagster run id of the run that published the snapshot.",
        "market_index": "The index the market context is read from, in words (benchmark_history's index_name).",
    },
    "asset_changes": {
        "asset": "The writer: a table, or source_data for everything the source step writes.",
        "version": "Sequence number of this writer's change (1, 2, ...).",
    },
    "asset_inputs": {
        "asset": "The reader: a table recomputed incrementally.",
        "version": "The upstream's newest change version the reader has taken in.",
    },
    "run_failures": {
        "run_id": "Dagster run id of the failed run.",
    },
}

_STRATEGY_PART = re.compile(r"^(?P<strategy>[a-z_]+)_(?P<part>vote|confidence)$")
_AT_THRESHOLD = re.compile(r"^(?P<what>count|precision|lift)_at_(?P<threshold>\d{2})$")


def _family(column: str) -> str:
    """The description of a column of a numbered or per-strategy family, else ''."""
    match = _STRATEGY_PART.match(column)
    if match and match["strategy"] in STRATEGY_NAMES:
        name = match["strategy"]
        if match["part"] == "vote":
            return f"{name}'s newest signal active on D: +1 BUY, −1 SELL, 0 none (known at D's close)."
        return f"{name}'s confidence (0–1) of its newest signal active on D; 0 when it has none."
    match = _AT_THRESHOLD.match(column)
    if match:
        p = f"ml_probability > 0.{match['threshold']}"
        return {
            "count": f"Hold-out signals with {p}.",
            "precision": f"Share of the hold-out signals with {p} that made money (fraction).",
            "lift": f"precision at {p} / the hold-out's base rate (1 = no better than taking every signal).",
        }[match["what"]]
    return ""


def describe(table: str, column: str) -> str:
    """What ``column`` of ``table`` means: the table's own entry, the shared one, a family rule, else ''."""
    own = TABLE_COLUMNS.get(table, {})
    if column in own:
        return own[column]
    return COLUMNS.get(column) or _family(column)
