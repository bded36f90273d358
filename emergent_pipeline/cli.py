"""The ``emergent-pipeline`` command."""

from __future__ import annotations

import argparse
import functools
import json
import shutil
import os
import sys
from pathlib import Path

import duckdb

from emergent_pipeline.paths import PROJECT_ROOT, dagster_home, default_db_path, default_tracking_uri, serving_db_path

SUMMARY_TABLES = [
    "universe", "price_history", "price_rejections", "fundamental_statements", "fundamentals", "benchmark_history", "market_context",
    "strategy_signals", "shariah_screen", "consensus_signals", "consensus_breakdown", "signal_labels", "signal_features",
    "model_evaluations", "replay_retrains", "signal_scores", "ml_enhanced_signals", "signal_outcomes", "performance_summary",
]


def summary(db_path: str) -> str:
    """Row counts, date ranges and the current market context of the stored tables."""
    # here, not at the top: `status` must not wait for pandas
    from emergent_pipeline.core.recommendations import MODEL_ALONE_PORTFOLIO, RECOMMENDED_PORTFOLIO
    from emergent_pipeline.storage import table_exists

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
            for record, portfolio, verdict in conn.execute(
                "SELECT record, portfolio, verdict FROM performance_summary WHERE year = 'all' AND portfolio IN (?, ?) ORDER BY record, portfolio",
                [RECOMMENDED_PORTFOLIO, MODEL_ALONE_PORTFOLIO],
            ).fetchall():
                what = "Recommended signals" if portfolio == RECOMMENDED_PORTFOLIO else "The model's own picks (no earn-its-place rule)"
                lines.append(f"{what}, {record} record: {verdict}")
    return "\n".join(lines)


def instance_home() -> Path:
    """The Dagster instance runs are recorded in: ``$DAGSTER_HOME``, else the project's
    ``.dagster_home`` (its dagster.yaml copied from the project's dagster.yaml, as `make run` does)."""
    home = dagster_home()
    if home is None:
        home = PROJECT_ROOT / ".dagster_home"
        home.mkdir(exist_ok=True)
        shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    return home


CODE_LOCATION = "emergent_pipeline"
"""The code location's name, as workspace.yaml and pyproject.toml ([tool.dg.project]) give it to the
UI (a test checks they agree)."""
READABLE_LOGS = {"readable_console": {"config": {"log_level": "INFO"}}}
"""The console log of a run started here, unless the config sets ``loggers``: a line per step event
and the assets' own log lines, without Dagster's DEBUG detail and without stack traces (they stay in
the run's log; ``defs/loggers.py``)."""


@functools.cache
def project_definitions():
    """The project's definitions, loaded once per process (loading the defs folder takes seconds)."""
    from emergent_pipeline.definitions import defs

    return defs()


def project_job(job_name: str):
    """The project's job of that name: the function a run of it is rebuilt by (``build_reconstructable_job``)."""
    return project_definitions().resolve_job_def(job_name)


def rerun_job(run_id: str) -> int:
    """Run the job of a recorded run again, with the config that run had (its loggers aside)."""
    import dagster as dg

    with dg.DagsterInstance.from_config(str(instance_home())) as instance:
        run = instance.get_run_by_id(run_id)
    if run is None:
        print(f"no run {run_id!r} in the Dagster instance {instance_home()}", file=sys.stderr)
        return 2
    config = {k: v for k, v in (run.run_config or {}).items() if k != "loggers"}
    print(f"running {run.job_name} again with the config of run {run_id}")
    return run_job(run.job_name, [], config)


def run_job(job_name: str, config_files: list[str], config: dict | None = None) -> int:
    """Run a job of the project in this process, recorded in the Dagster instance (the UI's Runs page,
    the asset catalog and ``status`` show it); the run config is checked before anything runs, and
    what killed runs left behind is put right first (``defs/automation/leftovers.py``).

    Through Dagster's public ``execute_job``: the run is recorded without its code location (Dagster
    has no public Python API that launches a run into a code location, dagster-io/dagster#3612), so
    the UI lists it under Runs and its materializations in the catalog, but not in the job's timeline."""
    import dagster as dg

    from emergent_pipeline.defs.automation.leftovers import clear_leftovers
    from emergent_pipeline.defs.ml.resources import MLflowResource

    jobs = sorted(job.name for job in project_definitions().resolve_all_job_defs() if not job.name.startswith("__"))
    if job_name not in jobs:
        print(f"no job {job_name!r}; the jobs are: {', '.join(jobs)}", file=sys.stderr)
        return 2
    try:
        config = dict(config or (dg.config_from_files(config_files) if config_files else {}))
    except (FileNotFoundError, dg.DagsterInvariantViolationError) as error:
        print(f"cannot read the config: {error}", file=sys.stderr)
        return 2
    config.setdefault("loggers", READABLE_LOGS)
    dg.validate_run_config(project_job(job_name), config)  # raises with every error listed, before anything runs
    instance = dg.DagsterInstance.from_config(str(instance_home()))
    for line in clear_leftovers(instance, MLflowResource(), default_db_path(), noticed_by="emergent-pipeline run"):
        print(f"before the run: {line}")
    job = dg.build_reconstructable_job("emergent_pipeline.cli", "project_job", reconstructable_args=(job_name,),
                                       reconstructor_working_directory=str(PROJECT_ROOT))
    with dg.execute_job(job, instance, run_config=config) as result:
        return report(result, job_name)


def report(result, job_name: str) -> int:
    """What a run did, in a line; a failed run's failed steps with their reasons, and each blocking
    check that failed in a paragraph a user can act on: how many rows, the first ones, the remedy."""
    materialized = sorted({e.asset_key.to_user_string() for e in result.get_asset_materialization_events()})
    if result.success:
        print(f"run {result.run_id} of {job_name} succeeded: {len(materialized)} assets materialized ({', '.join(materialized)})")
        return 0
    print(f"run {result.run_id} of {job_name} failed; nothing after the failed step was written.", file=sys.stderr)
    blocked = [e for e in result.get_asset_check_evaluations() if not e.passed and e.severity.value == "ERROR"]
    from emergent_pipeline.status import CHECK_FAILED, step_failure

    for event in result.all_events:
        if event.is_step_failure:
            failed = step_failure(event)
            reason = (f"{event.step_key}: {len(blocked)} blocking check(s) failed, so nothing downstream ran:"
                      if blocked and failed["error"] == CHECK_FAILED else failed["message"])
            print(f"  {reason}", file=sys.stderr)
    for evaluation in blocked:
        print(blocking_check_paragraph(evaluation), file=sys.stderr)
    return 1


def blocking_check_paragraph(evaluation, shown: int = 5) -> str:
    """A failed blocking check in words: its name and finding, its first rows, the remedy."""
    metadata = evaluation.metadata
    table = metadata.get("rows")
    rows = [dict(record.data) for record in (table.records if table is not None and hasattr(table, "records") else [])[:shown]]
    lines = [f"  {evaluation.check_name} on {evaluation.asset_key.to_user_string()}: {evaluation.description}."]
    lines += [f"    {', '.join(f'{k} {v}' for k, v in row.items())}" for row in rows]
    count = metadata["offending_rows"].value if "offending_rows" in metadata else len(rows)
    if count > len(rows):
        lines.append(f"    … and {count - len(rows)} more (all of them in the check's metadata in the Dagster UI)")
    if "remedy" in metadata:
        lines.append(f"  What to do: {metadata['remedy'].value}.")
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
    serve.add_argument("--cors-origin", action="append", default=None, dest="cors_origins", metavar="ORIGIN",
                       help="an origin a browser front end may call from, e.g. http://localhost:3000; repeatable (default: none)")
    serve.add_argument("--allowed-host", action="append", default=None, dest="allowed_hosts", metavar="HOST",
                       help="a Host header to serve besides localhost, 127.0.0.1 and ::1 (the name clients reach this server by, "
                            "e.g. signals.example.com); repeatable. Other hosts get 400")
    serve.add_argument("--max-body-bytes", type=int, default=None, help="largest request body accepted (default 65536)")
    signals = commands.add_parser("signals", help="the top ML-enhanced signals of the newest day, as a table")
    signals.add_argument("--max", type=int, default=20, dest="max_symbols")
    signals.add_argument("--min-probability", type=float, default=0.0)
    signals.add_argument("--shariah-only", action="store_true", help="only signals Shariah-COMPLIANT on their own day")
    signals.add_argument("--admit-unknown", action="store_true", help="with --shariah-only, also signals whose status is UNKNOWN")
    signals.add_argument("--as-of", default=None)
    commands.add_parser("context", help="the current market context")
    commands.add_parser("status", help="the served data, the model registry and the recent runs (JSON, as GET /system/status)")
    run = commands.add_parser("run", help="run a job with its config, in this process (recorded in the Dagster instance)")
    run.add_argument("job", help="daily_refresh, full_backfill, train_signal_model, replay_history or rescore_signals")
    run.add_argument("--config", "-c", action="append", default=[], help="a run config YAML file (ops:, resources:); repeatable")
    rerun = commands.add_parser("rerun", help="run a recorded run's job again with that run's config (what `status` suggests after a failure)")
    rerun.add_argument("run_id", help="the run's id, as `status` and the Dagster UI show it")
    args = parser.parse_args(argv)

    if args.command in ("run", "rerun"):
        import dagster as dg

        try:
            return run_job(args.job, args.config) if args.command == "run" else rerun_job(args.run_id)
        except dg.DagsterInvalidConfigError as error:
            print(f"invalid config, nothing ran:\n{error}", file=sys.stderr)
            return 2
    if args.command == "status":
        from emergent_pipeline.status import status_report

        print(json.dumps(status_report(serving_db_path(), default_tracking_uri(), dagster_home()), indent=2, default=str))
        return 0

    if args.command == "summary":
        db_path = args.db or default_db_path()
        try:
            print(summary(db_path))
        except duckdb.IOException as error:
            print(f"cannot open {db_path}: {error}. Run a job first (`emergent-pipeline run daily_refresh -c your.yaml`, "
                  "or `make run` for the bundled demo).", file=sys.stderr)
            return 1
        return 0
    if args.command == "serve":
        import uvicorn

        from emergent_pipeline.api.app import CORS_ENV, HOSTS_ENV, MAX_BODY_ENV, create_app

        # Through the environment, so that every worker process of a factory app gets the same settings.
        if args.cors_origins:
            os.environ[CORS_ENV] = ",".join(args.cors_origins)
        hosts = [*(args.allowed_hosts or []), *([args.host] if args.host not in ("0.0.0.0", "::", "") else [])]
        if hosts:
            os.environ[HOSTS_ENV] = ",".join([*hosts, *filter(None, os.environ.get(HOSTS_ENV, "").split(","))])
        if args.max_body_bytes:
            os.environ[MAX_BODY_ENV] = str(args.max_body_bytes)
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
            shown = {r["probability"]: r for s in selection.signals if (r := s.get("probability_record"))}
            if shown:
                print(f"What each probability band shown has meant (as-issued record, outcomes known by {selection.day:%Y-%m-%d}):")
                for band in sorted(shown):
                    print(f"  {band}: {shown[band]['summary']}")
            for record, verdict in selection.recommended_filter.items():
                print(f"Recommended signals ({record} record): {verdict}")
            if args.shariah_only:
                print(f"Shariah filter: {selection.shariah['policy']} (standard {selection.shariah['standard']}); excluded {selection.shariah['excluded']}")
        elif args.command == "context":
            context = engine.get_market_context()
            meaning = context["interpretation"]
            print(f"{context['date']}: {context['regime']} ({meaning['regime']}); volatility {context['volatility']:.1%} ({meaning['volatility']}); "
                  f"20-day trend {context['trend_20d']:+.1%} ({meaning['trend']}); above SMA50 {context['above_sma_50']}, above SMA200 {context['above_sma_200']}")
    except NoDataError as error:
        print(str(error), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
