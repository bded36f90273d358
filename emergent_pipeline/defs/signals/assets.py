"""Strategy signals, the consensus and the Shariah screen, from the stored prices."""

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from emergent_pipeline import changes
from emergent_pipeline.core import shariah
from emergent_pipeline.core.consensus import compute_consensus
from emergent_pipeline.core.strategies.registry import STRATEGIES, resolve_params, run_strategies
from emergent_pipeline.core.indicators import sorted_panel
from emergent_pipeline.core.strategy_panel import build_strategy_panel, join_fundamentals
from emergent_pipeline.defs.prices.assets import benchmark_history
from emergent_pipeline.defs.incremental import (BACKFILL_POLICY, STRATEGY_LOOKBACK_DAYS, TRADING_MONTHS, Incremental, recompute_asset,
                                                settings_key, stored_query)
from emergent_pipeline.defs.owners import OWNERS
from emergent_pipeline.defs.metadata import date_range, table_metadata, table_preview, tidy
from emergent_pipeline.defs.prices.assets import SOURCE, fundamentals, price_history, universe
from emergent_pipeline.defs.signals.config import ConsensusConfig, ShariahConfig, StrategyConfig, settings_metadata
from emergent_pipeline.storage import read_table

GROUP = "signals"
TOP_SIGNALS = 15


PARTITIONED = {"partitions_def": TRADING_MONTHS, "backfill_policy": BACKFILL_POLICY}
"""Monthly partitions for the two tables computed over every symbol-day (`defs/incremental.py` says
what a run recomputes). The consensus and the features after them are not partitioned: Dagster
cannot run a partitioned asset with a partitioned upstream in a run without a partition, and the
daily refresh has none (which days changed is known only once the source step has run). They follow
the change log, as every time-indexed table does."""


@dg.asset(group_name=GROUP, owners=OWNERS[GROUP], kinds={"duckdb", "pandas"}, deps=[price_history, universe, fundamentals, benchmark_history], **PARTITIONED)
def strategy_signals(context: dg.AssetExecutionContext, config: StrategyConfig, duckdb: DuckDBResource) -> dg.MaterializeResult:
    """Every (symbol, date, strategy) where one of the ten strategies fires, with type, confidence,
    entry, target, stop, validity, reason and the indicator values used. Incremental: only the days
    from the first changed input day are recomputed (reading a 500-trading-day look-back before it)."""
    params = resolve_params(config.params)

    def compute(frames: list, first: pd.Timestamp) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
        prices, index, members, statements = frames
        panel = build_strategy_panel(prices, members, statements, index)
        coverage = pd.DataFrame({"date": panel["date"], "rows": 1, "statement": panel["fund_available_from"].notna(),
                                 "market_cap": panel["market_cap_pit"].notna()}).groupby("date").sum()
        return {"strategy_signals": run_strategies(panel, params)}, coverage

    done = recompute_asset(context, duckdb, Incremental(
        "strategy_signals", [SOURCE], settings_key(params), lambda conn, since: changes.lookback_start(conn, since, STRATEGY_LOOKBACK_DAYS),
        ["price_history", "benchmark_history"], ["universe", "fundamentals"]), compute)
    # The metadata describes the stored table, whether this run recomputed all of it, some days or none.
    signals = stored_query(duckdb, "SELECT * EXCLUDE (indicators) FROM strategy_signals WHERE date = (SELECT max(date) FROM strategy_signals)")

    stored = stored_query(duckdb, "SELECT strategy, signal_type, count(*) n FROM strategy_signals GROUP BY ALL")
    symbol_days = int(stored_query(duckdb, "SELECT count(*) n FROM price_history")["n"].item())
    by_type = stored.pivot_table(index="strategy", columns="signal_type", values="n", aggfunc="sum", fill_value=0).reindex(list(STRATEGIES), fill_value=0)
    counts = by_type.sum(axis=1)
    fires = pd.DataFrame({"fires": counts, "share_of_days": (counts / max(symbol_days, 1)).round(5)}).join(by_type)
    fundamentals_note = "nothing recomputed"
    if done.extras:
        coverage = pd.concat(done.extras).loc[lambda c: c.index >= done.chunks[0][0]].groupby(level=0).sum()
        known_days = int(coverage["statement"].sum())
        first_known = coverage.index[coverage["statement"] > 0].min() if known_days else None
        fundamentals_note = (
            f"on the recomputed days, a statement is usable on {known_days:,} of {int(coverage['rows'].sum()):,} symbol-days"
            + (f" (from {first_known:%Y-%m-%d})" if known_days else " (no statement is usable on any day: value and fundamental_growth cannot fire)")
            + f"; a market cap is known on {int(coverage['market_cap'].sum()):,}"
            + "; value and fundamental_growth fire only where a statement is usable, multibagger ranks size by market cap where most symbols have one"
        )
    return dg.MaterializeResult(
        metadata=tidy({
            **table_metadata(duckdb, "strategy_signals"),
            "recomputed": done.note,
            "rows_recomputed": done.rows.get("strategy_signals", 0),
            "symbol_days": symbol_days,
            "fires_per_strategy": table_preview(fires.rename_axis("strategy").reset_index(), rows=len(fires)),
            "fundamentals": fundamentals_note,
            "settings": dg.MetadataValue.json({name: vars(p) for name, p in params.items()}),
            "newest_day": table_preview(signals.sort_values("confidence", ascending=False)[["symbol", "strategy", "signal_type", "confidence"]],
                                        rows=TOP_SIGNALS) if len(signals) else "none",
        })
    )


def consensus_lookback(conn, since: pd.Timestamp) -> pd.Timestamp:
    """Twice the longest validity of a strategy signal (plus ten days) before the first changed
    day: a signal active then, and whether the symbol already qualified the day before."""
    longest = conn.execute("SELECT coalesce(max(validity_days), 0) FROM strategy_signals").fetchall()[0][0]
    return changes.lookback_start(conn, since, 2 * int(longest) + 10)


def shariah_lookback(months: int):
    """The look-back of the screen: the longest trailing average of market caps, in calendar months."""
    return lambda conn, since: since - pd.DateOffset(months=months + 1)


SHARIAH_UNREAD = ["open", "high", "low", "volume"]
"""The screen's market caps need the close alone: three years of look-back read without the rest."""


@dg.asset(group_name=GROUP, owners=OWNERS[GROUP], kinds={"duckdb", "pandas"}, deps=[universe, fundamentals, price_history], **PARTITIONED)
def shariah_screen(context: dg.AssetExecutionContext, config: ShariahConfig, duckdb: DuckDBResource) -> dg.MaterializeResult:
    """Per symbol and trading day: COMPLIANT / NON_COMPLIANT / UNKNOWN under the chosen standard
    (default S&P), from the business activity and the statement usable that day, against the
    trailing average of daily market caps up to that day, with the reasons and the ratios (never a
    pass for a ratio that cannot be computed). A signal carries the status of its own day.
    Incremental like `strategy_signals`, with the longest average (36 months) as look-back."""
    settings = config.to_settings()
    months = max(settings.djim_average_months, settings.sp_average_months)

    newest_panel = {}

    def compute(frames: list, first: pd.Timestamp) -> tuple[dict[str, pd.DataFrame], None]:
        prices, members, statements = frames
        newest_panel.clear()  # the previous chunk's panel, freed before this one is built
        newest_panel["panel"] = panel = join_fundamentals(sorted_panel(prices), statements)  # the last chunk's, for the metadata
        return {"shariah_screen": shariah.screen(panel, members, settings, from_day=first)}, None

    done = recompute_asset(context, duckdb, Incremental(
        "shariah_screen", [SOURCE], settings_key(settings), shariah_lookback(months), ["price_history"], ["universe", "fundamentals"],
        unread={"price_history": SHARIAH_UNREAD}), compute)
    # The metadata describes the stored table, whether this run recomputed all of it, some days or none.
    with duckdb.get_connection() as conn:
        members = read_table(conn, "universe")
        statuses = conn.execute("SELECT status, count(*) n FROM shariah_screen GROUP BY 1").df().set_index("status")["n"]
        newest = conn.execute("SELECT * FROM shariah_screen WHERE date = (SELECT max(date) FROM shariah_screen)").df()
        if "panel" not in newest_panel:  # nothing recomputed: the newest day's window, for the counts under every standard
            since = conn.execute("SELECT max(date) FROM price_history").fetchall()[0][0]
            window = read_table(conn, "price_history", since=shariah_lookback(months)(conn, pd.Timestamp(since)))
            newest_panel["panel"] = join_fundamentals(sorted_panel(window), read_table(conn, "fundamentals"))
    panel = newest_panel["panel"]
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
        metadata=tidy({
            **table_metadata(duckdb, "shariah_screen"),
            "recomputed": done.note,
            "standard": settings.standard,
            "newest_day": newest_day,
            "counts_on_newest_day": dg.MetadataValue.json(summary["counts"]),
            "counts_on_newest_day_by_standard": dg.MetadataValue.json(by_standard),
            "main_exclusion_reasons_on_newest_day": dg.MetadataValue.json(summary["top_reasons"]),
            "share_of_symbol_days": dg.MetadataValue.json((statuses / statuses.sum()).round(4).to_dict()),
            "activity_screen": activity_note,
            "shariah_only_policy": shariah.screening_policy(True, settings.admit_unknown),
            "settings": settings_metadata(settings),
            "non_compliant_on_newest_day": table_preview(newest[newest["status"] == "NON_COMPLIANT"][["symbol", "reasons"]], rows=20),
        })
    )


@dg.asset(group_name=GROUP, owners=OWNERS[GROUP], kinds={"duckdb", "pandas"}, deps=[strategy_signals, shariah_screen])
def consensus_signals(context: dg.AssetExecutionContext, config: ConsensusConfig, duckdb: DuckDBResource) -> dg.MaterializeResult:
    """What at least three strategies agree on, per symbol, on the first day it qualifies: type,
    agreement, weighted confidence, entry (D's close), median target and stop, validity, composite
    score and quality tier, each strategy's vote, and the Shariah status. The per-strategy breakdown
    (type, confidence, weight, reason) is in the table `consensus_breakdown`."""
    params = config.to_params()

    def compute(frames: list, first: pd.Timestamp) -> tuple[dict[str, pd.DataFrame], int]:
        prices, signals, screen = frames
        result = compute_consensus(prices, signals, params)
        # Each signal carries the Shariah status of its own day.
        consensus = result.signals.merge(
            screen[["symbol", "date", "status"]].rename(columns={"status": "shariah_status"}), on=["symbol", "date"], how="left"
        )
        consensus["shariah_status"] = consensus["shariah_status"].fillna("UNKNOWN")
        return {"consensus_signals": consensus, "consensus_breakdown": result.breakdown}, result.qualifying_days

    done = recompute_asset(context, duckdb, Incremental(
        "consensus_signals", ["strategy_signals", "shariah_screen"], settings_key(params), consensus_lookback,
        ["price_history", "strategy_signals", "shariah_screen"], [], unread={"strategy_signals": ["indicators"]}), compute)
    with duckdb.get_connection() as conn:
        consensus = read_table(conn, "consensus_signals")  # the whole table, for the metadata (recomputed or not)

    newest = consensus[consensus["date"] == consensus["date"].max()] if len(consensus) else consensus
    per_year = consensus.groupby(consensus["date"].dt.year).size() if len(consensus) else pd.Series(dtype=int)
    shown = ["symbol", "signal_type", "composite_score", "quality_tier"]
    return dg.MaterializeResult(
        metadata=tidy({
            **table_metadata(duckdb, "consensus_signals", "consensus_breakdown"),
            "recomputed": done.note,
            "date_range": date_range(consensus) if len(consensus) else "no consensus signals",
            "counts_by_tier": dg.MetadataValue.json(consensus["quality_tier"].value_counts().to_dict()),
            "counts_by_type": dg.MetadataValue.json(consensus["signal_type"].value_counts().to_dict()),
            "counts_by_supporters": dg.MetadataValue.json({str(k): int(v) for k, v in consensus["supporters"].value_counts().sort_index().items()}),
            "counts_per_year": dg.MetadataValue.json({str(k): int(v) for k, v in per_year.items()}),
            "newest_day_top_signals": table_preview(newest.sort_values("composite_score", ascending=False)[shown], rows=TOP_SIGNALS),
            "settings": settings_metadata(params),
        })
    )
