"""The ``emergent-pipeline`` command."""

from __future__ import annotations

import argparse
import sys

import duckdb

from emergent_pipeline.storage import default_db_path, table_exists

SUMMARY_TABLES = [
    "universe", "price_history", "price_rejections", "fundamentals", "benchmark_history", "market_context",
    "strategy_signals", "shariah_screen", "consensus_signals", "consensus_breakdown", "signal_features",
    "ml_enhanced_signals",
]


def summary(db_path: str) -> str:
    """Row counts, date ranges and the current market context of the stored tables."""
    lines = [f"DuckDB: {db_path}"]
    with duckdb.connect(db_path, read_only=True) as conn:
        for table in SUMMARY_TABLES:
            if not table_exists(conn, table):
                lines.append(f"  {table:<18} (not materialized)")
                continue
            rows = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            columns = {r[0] for r in conn.execute(f"DESCRIBE {table}").fetchall()}
            span = ""
            if "date" in columns and rows:
                first, last = conn.execute(f"SELECT min(date), max(date) FROM {table}").fetchone()
                span = f"  {first} → {last}"
            lines.append(f"  {table:<18} {rows:>9,} rows{span}")
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
        if table_exists(conn, "ml_enhanced_signals"):
            status = conn.execute(
                "SELECT ml_status, any_value(model_version), count(*), avg(ml_probability) FROM ml_enhanced_signals GROUP BY 1"
            ).fetchall()
            for ml_status, version, count, probability in status:
                detail = f"model version {version}, mean ml_probability {probability:.3f}" if ml_status == "scored" else ""
                lines.append(f"ML: {count:,} signals {ml_status} {detail}".rstrip())
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="emergent-pipeline", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    summary_parser = commands.add_parser("summary", help="what the pipeline has stored")
    summary_parser.add_argument("--db", default=None, help="DuckDB file (default: $EMERGENT_PIPELINE_DB or data/emergent.duckdb)")
    args = parser.parse_args(argv)
    if args.command == "summary":
        db_path = args.db or default_db_path()
        try:
            print(summary(db_path))
        except duckdb.IOException as error:
            print(f"cannot open {db_path}: {error}. Run `make run` first.", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
