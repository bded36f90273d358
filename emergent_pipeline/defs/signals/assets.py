"""Strategy signals, the consensus and the Shariah screen, from the stored prices."""

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from emergent_pipeline.core import shariah
from emergent_pipeline.core.consensus import compute_consensus
from emergent_pipeline.core.strategies.registry import STRATEGIES, resolve_params, run_strategies
from emergent_pipeline.core.indicators import sorted_panel
from emergent_pipeline.core.strategy_panel import build_strategy_panel, join_fundamentals
from emergent_pipeline.defs.prices.assets import benchmark_history
from emergent_pipeline.defs.tables import load_tables
from emergent_pipeline.defs.metadata import date_range, table_preview
from emergent_pipeline.defs.prices.assets import fundamentals, price_history, universe
from emergent_pipeline.defs.signals.config import ConsensusConfig, ShariahConfig, StrategyConfig, settings_metadata
from emergent_pipeline.storage import replace_table, replace_tables

GROUP = "signals"
TOP_SIGNALS = 15


@dg.asset(group_name=GROUP, kinds={"duckdb", "pandas"}, deps=[price_history, universe, fundamentals, benchmark_history])
def strategy_signals(config: StrategyConfig, duckdb: DuckDBResource) -> dg.MaterializeResult:
    """Every (symbol, date, strategy) where one of the ten strategies fires, over the whole history,
    with type, confidence, entry, target, stop, validity, reason and the indicator values used."""
    prices, members, statements, index = load_tables(duckdb, "price_history", "universe", "fundamentals", "benchmark_history")
    params = resolve_params(config.params)
    panel = build_strategy_panel(prices, members, statements, index)
    signals = run_strategies(panel, params)
    with duckdb.get_connection() as conn:
        replace_table(conn, "strategy_signals", signals)

    symbol_days = len(panel)
    counts = signals.groupby("strategy").size().reindex(list(STRATEGIES), fill_value=0)
    by_type = signals.groupby(["strategy", "signal_type"]).size().unstack(fill_value=0).reindex(list(STRATEGIES), fill_value=0)
    fires = pd.DataFrame({"fires": counts, "share_of_symbol_days": (counts / symbol_days).round(5)}).join(by_type)
    known_days = int(panel["fund_available_from"].notna().sum())
    first_known = panel["fund_available_from"].min()
    fundamentals_note = (
        f"a statement is usable on {known_days:,} of {symbol_days:,} symbol-days"
        + (f" (from {first_known:%Y-%m-%d})" if known_days else " (no statement is usable on any day: value and fundamental_growth cannot fire)")
        + f"; a market cap is known on {int(panel['market_cap_pit'].notna().sum()):,}"
        + "; value and fundamental_growth fire only where a statement is usable, multibagger ranks size by market cap where most symbols have one"
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(signals),
            "symbol_days": symbol_days,
            "date_range": date_range(signals) if len(signals) else "no signals",
            "fires_per_strategy": dg.MetadataValue.md(fires.rename_axis("strategy").reset_index().to_markdown(index=False)),
            "fundamentals": fundamentals_note,
            "settings": dg.MetadataValue.json({name: vars(p) for name, p in params.items()}),
            "newest_day": table_preview(signals[signals["date"] == signals["date"].max()].sort_values("confidence", ascending=False).drop(columns="indicators"), rows=TOP_SIGNALS) if len(signals) else "none",
        }
    )


@dg.asset(group_name=GROUP, kinds={"duckdb", "pandas"}, deps=[universe, fundamentals, price_history])
def shariah_screen(context: dg.AssetExecutionContext, config: ShariahConfig, duckdb: DuckDBResource) -> dg.MaterializeResult:
    """Per symbol and trading day: COMPLIANT / NON_COMPLIANT / UNKNOWN under the chosen standard
    (default S&P), from the business activity and the statement usable that day, against the
    trailing average of daily market caps up to that day, with the reasons and the ratios (never a
    pass for a ratio that cannot be computed). A signal carries the status of its own day."""
    members, statements, prices = load_tables(duckdb, "universe", "fundamentals", "price_history")
    settings = config.to_settings()
    panel = join_fundamentals(sorted_panel(prices), statements)
    result = shariah.screen(panel, members, settings)
    with duckdb.get_connection() as conn:
        replace_table(conn, "shariah_screen", result)
    newest = shariah.newest_day(result)
    summary = shariah.exclusion_summary(newest)
    by_standard = shariah.newest_day_by_standard(panel, members, settings)
    labelled = members is not None and (members[["sector", "sub_industry"]].notna().any(axis=1)).any()
    activity_note = (
        "ran on each symbol's most specific industry label (sub-industry, else sector)" if labelled
        else "could not run: the universe has no sector or sub-industry for any symbol, so every symbol is UNKNOWN by activity"
    )
    if not labelled:
        context.log.warning(f"activity screen {activity_note}")
    newest_day = f"{newest['date'].max():%Y-%m-%d}" if len(newest) else "none"
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(result),
            "standard": settings.standard,
            "newest_day": newest_day,
            "counts_on_newest_day": dg.MetadataValue.json(summary["counts"]),
            "counts_on_newest_day_by_standard": dg.MetadataValue.json(by_standard),
            "main_exclusion_reasons_on_newest_day": dg.MetadataValue.json(summary["top_reasons"]),
            "share_of_symbol_days": dg.MetadataValue.json(result["status"].value_counts(normalize=True).round(4).to_dict()),
            "activity_screen": activity_note,
            "shariah_only_policy": shariah.screening_policy(True, settings.admit_unknown),
            "settings": settings_metadata(settings),
            "non_compliant_on_newest_day": table_preview(newest[newest["status"] == "NON_COMPLIANT"][["symbol", "reasons"]], rows=20),
        }
    )


@dg.asset(group_name=GROUP, kinds={"duckdb", "pandas"}, deps=[strategy_signals, shariah_screen])
def consensus_signals(config: ConsensusConfig, duckdb: DuckDBResource) -> dg.MaterializeResult:
    """What at least three strategies agree on, per symbol, on the first day it qualifies: type,
    agreement, weighted confidence, entry (D's close), median target and stop, validity, composite
    score and quality tier, each strategy's vote, and the Shariah status. The per-strategy breakdown
    (type, confidence, weight, reason) is in the table ``consensus_breakdown``."""
    prices, signals, screen = load_tables(duckdb, "price_history", "strategy_signals", "shariah_screen")
    params = config.to_params()
    result = compute_consensus(prices, signals, params)
    # Each signal carries the Shariah status of its own day.
    consensus = result.signals.merge(
        screen[["symbol", "date", "status"]].rename(columns={"status": "shariah_status"}), on=["symbol", "date"], how="left"
    )
    consensus["shariah_status"] = consensus["shariah_status"].fillna("UNKNOWN")
    with duckdb.get_connection() as conn:
        replace_tables(conn, {"consensus_signals": consensus, "consensus_breakdown": result.breakdown})

    newest = consensus[consensus["date"] == consensus["date"].max()] if len(consensus) else consensus
    per_year = consensus.groupby(consensus["date"].dt.year).size() if len(consensus) else pd.Series(dtype=int)
    shown = ["symbol", "date", "signal_type", "quality_tier", "composite_score", "consensus_confidence", "agreement", "supporters", "entry_price", "target_price", "stop_loss", "strategies", "shariah_status"]
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(consensus),
            "date_range": date_range(consensus) if len(consensus) else "no consensus signals",
            "qualifying_symbol_days": result.qualifying_days,
            "counts_by_tier": dg.MetadataValue.json(consensus["quality_tier"].value_counts().to_dict()),
            "counts_by_type": dg.MetadataValue.json(consensus["signal_type"].value_counts().to_dict()),
            "counts_by_supporters": dg.MetadataValue.json({str(k): int(v) for k, v in consensus["supporters"].value_counts().sort_index().items()}),
            "counts_per_year": dg.MetadataValue.json({str(k): int(v) for k, v in per_year.items()}),
            "newest_day_top_signals": table_preview(newest.sort_values("composite_score", ascending=False)[shown], rows=TOP_SIGNALS),
            "settings": settings_metadata(params),
        }
    )
