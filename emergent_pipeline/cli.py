"""The ``emergent-pipeline`` command."""

from __future__ import annotations

import argparse
import json
import sys

import duckdb

from emergent_pipeline.storage import default_db_path, table_exists

SUMMARY_TABLES = [
    "universe", "price_history", "price_rejections", "fundamental_statements", "fundamentals", "benchmark_history", "market_context",
    "strategy_signals", "shariah_screen", "consensus_signals", "consensus_breakdown", "signal_labels", "signal_features",
    "model_evaluations", "replay_retrains", "signal_scores", "ml_enhanced_signals", "signal_outcomes", "performance_summary",
]


def summary(db_path: str) -> str:
    """Row counts, date ranges and the current market context of the stored tables."""
    lines = [f"DuckDB: {db_path}"]
    with duckdb.connect(db_path, read_only=True) as conn:
        for table in SUMMARY_TABLES:
            if not table_exists(conn, table):
                lines.append(f"  {table:<22} (not materialized)")
                continue
            rows = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            columns = {r[0] for r in conn.execute(f"DESCRIBE {table}").fetchall()}
            span = ""
            if "date" in columns and rows:
                first, last = conn.execute(f"SELECT min(date), max(date) FROM {table}").fetchone()
                span = f"  {first} → {last}"
            lines.append(f"  {table:<22} {rows:>9,} rows{span}")
        if table_exists(conn, "market_context"):
            row = conn.execute(
                "SELECT date, regime, volatility, trend_20d, above_sma_50, above_sma_200 "
                "FROM market_context ORDER BY date DESC LIMIT 1"
            ).fetchone()
            if row:
                date, regime, vol, trend, above50, above200 = row
                lines.append(
                    f"Market context on {date}: {regime}, volatility {vol:.1%}, 20-day trend {trend:+.1%}, "
                    f"above SMA50 {above50}, above SMA200 {above200}"
                )
        if table_exists(conn, "signal_scores"):
            issued = conn.execute(
                "SELECT origin, count(*), count(DISTINCT model_version), min(issued_on), max(issued_on) FROM signal_scores GROUP BY 1 ORDER BY 1"
            ).fetchall()
            for origin, count, models, first, last in issued:
                lines.append(f"Scores issued ({origin}): {count:,} by {models} model(s), {first} → {last}")
        if table_exists(conn, "performance_summary"):
            for record, verdict in conn.execute(
                "SELECT record, verdict FROM performance_summary WHERE year = 'all' AND portfolio = 'recommended (not SKIP)'"
            ).fetchall():
                lines.append(f"Recommended signals, {record} record: {verdict}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="emergent-pipeline", description="Trading signals from daily prices.")
    commands = parser.add_subparsers(dest="command", required=True)
    summary_parser = commands.add_parser("summary", help="what the pipeline has stored")
    summary_parser.add_argument("--db", default=None, help="DuckDB file (default: $EMERGENT_PIPELINE_DB or data/emergent.duckdb)")
    serve = commands.add_parser("serve", help="the REST API (FastAPI, uvicorn)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    signals = commands.add_parser("signals", help="the top ML-enhanced signals of the newest day, as a table")
    signals.add_argument("--max", type=int, default=20, dest="max_symbols")
    signals.add_argument("--min-probability", type=float, default=0.0)
    signals.add_argument("--shariah-only", action="store_true", help="only signals Shariah-COMPLIANT on their own day")
    signals.add_argument("--admit-unknown", action="store_true", help="with --shariah-only, also signals whose status is UNKNOWN")
    signals.add_argument("--as-of", default=None)
    commands.add_parser("context", help="the current market context")
    commands.add_parser("status", help="data freshness and model versions")
    args = parser.parse_args(argv)

    if args.command == "summary":
        db_path = args.db or default_db_path()
        try:
            print(summary(db_path))
        except duckdb.IOException as error:
            print(f"cannot open {db_path}: {error}. Run `make run` first.", file=sys.stderr)
            return 1
        return 0
    if args.command == "serve":
        import uvicorn

        from emergent_pipeline.api.app import create_app

        if args.workers > 1:
            uvicorn.run("emergent_pipeline.api.app:create_app", factory=True, host=args.host, port=args.port, workers=args.workers)
        else:
            uvicorn.run(create_app(), host=args.host, port=args.port)
        return 0

    from emergent_pipeline.api.engine import MLEnhancedSignalEngine
    from emergent_pipeline.api.queries import NoDataError

    engine = MLEnhancedSignalEngine()
    try:
        if args.command == "signals":
            selection = engine.select(args.shariah_only, args.max_symbols, as_of=args.as_of, min_ml_probability=args.min_probability,
                                      admit_unknown=args.admit_unknown)
            columns = ["symbol", "date", "signal_type", "quality_tier", "consensus_confidence", "ml_probability", "ml_recommendation", "entry_price", "target_price", "stop_loss", "strategies", "shariah_status"]
            import pandas as pd

            frame = pd.DataFrame(selection.signals, columns=columns)
            print(frame.to_string(index=False, float_format=lambda x: f"{x:.3f}") if len(frame) else selection.note)
            if args.shariah_only:
                print(f"Shariah filter: {selection.shariah['policy']} (standard {selection.shariah['standard']}); excluded {selection.shariah['excluded']}")
        elif args.command == "context":
            context = engine.get_market_context()
            meaning = context["interpretation"]
            print(f"{context['date']}: {context['regime']} ({meaning['regime']}); volatility {context['volatility']:.1%} ({meaning['volatility']}); "
                  f"20-day trend {context['trend_20d']:+.1%} ({meaning['trend']}); above SMA50 {context['above_sma_50']}, above SMA200 {context['above_sma_200']}")
        elif args.command == "status":
            from emergent_pipeline.api.app import status_report
            from emergent_pipeline.model_registry import ModelStore, default_artifact_root, default_tracking_uri

            status = status_report(engine, ModelStore(default_tracking_uri(), default_artifact_root()))
            print(json.dumps(status, indent=2, default=str))
    except NoDataError as error:
        print(str(error), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
