"""Strategy signals, the consensus and the Shariah screen, from the stored prices."""

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from emergent_pipeline.core import shariah
from emergent_pipeline.core.consensus import compute_consensus
from emergent_pipeline.core.strategies.registry import STRATEGIES, resolve_params, run_strategies
from emergent_pipeline.core.strategy_panel import build_strategy_panel
from emergent_pipeline.defs.market.assets import benchmark_history
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
    prices, members, snapshots, index = load_tables(duckdb, "price_history", "universe", "fundamentals", "benchmark_history")
    params = resolve_params(config.params)
    panel = build_strategy_panel(prices, members, snapshots, index)
    signals = run_strategies(panel, params)
    with duckdb.get_connection() as conn:
        replace_table(conn, "strategy_signals", signals)

    symbol_days = len(panel)
    counts = signals.groupby("strategy").size().reindex(list(STRATEGIES), fill_value=0)
    by_type = signals.groupby(["strategy", "signal_type"]).size().unstack(fill_value=0).reindex(list(STRATEGIES), fill_value=0)
    fires = pd.DataFrame({"fires": counts, "share_of_symbol_days": (counts / symbol_days).round(5)}).join(by_type)
    known_days = int(panel["fund_as_of"].notna().sum())
    first_known = panel["fund_as_of"].min()
    fundamentals_note = (
        f"point-in-time fundamentals known on {known_days:,} of {symbol_days:,} symbol-days"
        + (f" (from {first_known:%Y-%m-%d})" if known_days else "")
        + "; value and fundamental_growth fire only there, and multibagger uses them only there"
        + ("" if known_days else f" — the newest snapshot ({snapshots['as_of'].max():%Y-%m-%d}) is after the last bar ({prices['date'].max():%Y-%m-%d}), so they cannot fire without look-ahead" if snapshots is not None and len(snapshots) else "")
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
def shariah_screen(config: ShariahConfig, duckdb: DuckDBResource) -> dg.MaterializeResult:
    """Per symbol: COMPLIANT / NON_COMPLIANT / UNKNOWN under the chosen standard, with the reasons
    and the ratios where they can be computed (never a pass for a ratio that cannot)."""
    members, snapshots, prices = load_tables(duckdb, "universe", "fundamentals", "price_history")
    settings = config.to_settings()
    result = shariah.screen(members, snapshots if snapshots is not None else pd.DataFrame(), settings, prices)
    with duckdb.get_connection() as conn:
        replace_table(conn, "shariah_screen", result)
    summary = shariah.exclusion_summary(result)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(result),
            "standard": settings.standard,
            "counts_by_status": dg.MetadataValue.json(summary["counts"]),
            "main_exclusion_reasons": dg.MetadataValue.json(summary["top_reasons"]),
            "shariah_only_policy": shariah.screening_policy(True, settings.admit_unknown),
            "settings": settings_metadata(settings),
            "non_compliant": table_preview(result[result["status"] == "NON_COMPLIANT"][["symbol", "reasons"]], rows=20),
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
    consensus = result.signals.merge(screen[["symbol", "status"]].rename(columns={"status": "shariah_status"}), on="symbol", how="left")
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
