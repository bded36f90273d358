"""What ``GET /system/status`` and ``emergent-pipeline status`` report: the snapshot being served, the
model registry's aliases and the Dagster instance's recent runs, failures included.

It reads the three stores directly and imports neither pandas, MLflow nor Dagster when the stores
are the project's own SQLite and DuckDB files, so the command answers in well under two seconds.
A store configured elsewhere (an MLflow server, a Postgres Dagster instance) is read through its
library instead, slower but the same answer; ``emergent_pipeline_tests/test_status.py`` checks that
both ways agree.
"""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from emergent_pipeline.paths import CHALLENGER, CHAMPION, MODEL_NAME, process_alive

FAILED = ("FAILURE", "CANCELED")


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _iso(seconds: float | None) -> str | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="seconds")


def snapshot_facts(path: str) -> dict:
    """The served snapshot: newest price day, symbols, publication time, and the manifest the
    pipeline wrote with it (the model whose scores it serves)."""
    try:
        published = os.stat(path).st_mtime
    except FileNotFoundError:
        return {"status": "no data", "reason": "no serving snapshot yet: run `make run` or the daily_refresh job"}
    try:
        with duckdb.connect(path, read_only=True) as conn:
            tables = {r[0] for r in conn.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'").fetchall()}
            if "price_history" not in tables:
                return {"status": "no data", "reason": "the snapshot has no price_history: run the daily_refresh job"}
            newest, symbols = conn.execute("SELECT max(date), count(DISTINCT symbol) FROM price_history").fetchone()
            manifest = {}
            if "snapshot_manifest" in tables:
                row = conn.execute("SELECT * FROM snapshot_manifest").fetchone()
                manifest = dict(zip([d[0] for d in conn.description], row)) if row else {}
    except duckdb.Error as error:
        return {"status": "unreadable", "reason": f"the serving snapshot cannot be read ({type(error).__name__}): run the daily_refresh job"}
    return {
        "status": "ok", "newest_price_date": None if newest is None else str(newest), "symbols": int(symbols),
        "snapshot_published_at": _iso(published),
        "serving_model_version": manifest.get("model_version"),
        "newest_signal_date": None if manifest.get("signal_date") is None else str(manifest["signal_date"]),
    }


def registry_aliases(tracking_uri: str, model_name: str = MODEL_NAME) -> dict[str, str | None]:
    """Which version ``champion`` and ``challenger`` point at (None: no such alias)."""
    aliases: dict[str, str | None] = {CHAMPION: None, CHALLENGER: None}
    if tracking_uri.startswith("sqlite:///"):
        path = Path(tracking_uri.removeprefix("sqlite:///"))
        if not path.exists():
            return aliases
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            try:
                rows = conn.execute("SELECT alias, version FROM registered_model_aliases WHERE name = ?", (model_name,)).fetchall()
            except sqlite3.OperationalError:  # an empty tracking database: no registry tables yet
                return aliases
        return {**aliases, **{alias: str(version) for alias, version in rows if alias in aliases}}
    from emergent_pipeline.model_registry import ModelStore, default_artifact_root

    store = ModelStore(tracking_uri, default_artifact_root(), model_name=model_name)
    return {alias: (str(v.version) if (v := store.version_by_alias(alias)) else None) for alias in aliases}


def _failure_reason(events: list[dict]) -> str | None:
    """Why a run failed, from its events: the first failed step's own message, else the run's."""
    for event in events:
        dagster_event = event.get("dagster_event") or {}
        if dagster_event.get("event_type_value") == "STEP_FAILURE":
            data = dagster_event.get("event_specific_data") or {}
            described = (data.get("user_failure_data") or {}).get("description")
            error = (data.get("error") or {}).get("message")
            return f"{dagster_event.get('step_key')}: {(described or error or 'failed').strip()}"
    for event in reversed(events):
        dagster_event = event.get("dagster_event") or {}
        if dagster_event.get("event_type_value") in ("PIPELINE_FAILURE", "PIPELINE_CANCELED"):
            return dagster_event.get("message") or event.get("user_message")
    return None


def _sqlite_runs(home: Path, limit: int) -> list[dict]:
    """Runs from the instance's default SQLite storage (``history/runs.db``, one events file a run)."""
    with sqlite3.connect(f"file:{home / 'history' / 'runs.db'}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            "SELECT run_id, pipeline_name, status, start_time, end_time FROM runs ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
    runs = []
    for run_id, job, status, started, ended in rows:
        run = {"run_id": run_id, "job": job, "status": status, "started_at": _iso(started), "ended_at": _iso(ended)}
        events_file = home / "history" / "runs" / f"{run_id}.db"
        if status in FAILED + ("STARTED",) and events_file.exists():
            with sqlite3.connect(f"file:{events_file}?mode=ro", uri=True) as conn:
                events = [json.loads(e) for (e,) in conn.execute(
                    "SELECT event FROM event_logs WHERE dagster_event_type IN "
                    "('STEP_FAILURE', 'PIPELINE_FAILURE', 'PIPELINE_CANCELED', 'ENGINE_EVENT', 'PIPELINE_START') ORDER BY id").fetchall()]
            _describe(run, events)
        runs.append(run)
    return runs


def _describe(run: dict, events: list[dict]) -> None:
    """Add the failure reason of a failed run, and flag a run shown as started whose process is gone."""
    if run["status"] in FAILED:
        run["failure"] = _failure_reason(events)
    elif run["status"] == "STARTED":
        pids = [(e.get("dagster_event") or {}).get("pid") for e in events]
        pid = next((p for p in reversed(pids) if p), None)
        if pid is not None and not process_alive(int(pid)):
            run["status"] = "STARTED (process gone)"
            run["failure"] = f"its process (pid {pid}) is gone: the next run marks it failed"


def _instance_runs(home: Path, limit: int) -> list[dict]:
    """Runs through Dagster's own API (any storage the instance is configured with)."""
    import dagster as dg
    from dagster._serdes import serialize_value

    instance = dg.DagsterInstance.from_config(str(home))
    runs = []
    for record in instance.get_run_records(limit=limit):
        run = record.dagster_run
        started, ended = record.start_time, record.end_time
        entry = {"run_id": run.run_id, "job": run.job_name, "status": run.status.value, "started_at": _iso(started), "ended_at": _iso(ended)}
        if run.status.value in FAILED + ("STARTED",):
            events = [json.loads(serialize_value(e)) for e in instance.all_logs(run.run_id) if e.dagster_event is not None]
            _describe(entry, events)
        runs.append(entry)
    return runs


def dagster_runs(home: Path | None, limit: int = 10) -> tuple[list[dict], str]:
    """The instance's newest runs, newest first, each failed one with its reason; and where they were
    read from (or why there are none)."""
    if home is None:
        return [], "no Dagster instance: set DAGSTER_HOME (make run and make dev use .dagster_home)"
    if (home / "history" / "runs.db").exists():
        try:
            return _sqlite_runs(home, limit), "the Dagster instance's run storage"
        except (sqlite3.Error, json.JSONDecodeError, KeyError):
            pass  # another storage layout than this module knows: ask Dagster itself
    if not (home / "dagster.yaml").exists() and not (home / "history").exists():
        return [], "the Dagster instance has no run yet"
    try:
        return _instance_runs(home, limit), "the Dagster instance (through its API)"
    except Exception as error:  # noqa: BLE001 - the status must answer even when the instance cannot be read
        return [], f"the Dagster instance cannot be read ({type(error).__name__})"


def ml_status(aliases: dict[str, str | None], snapshot: dict, served: dict | None = None) -> dict:
    """The guide's ``ml_status``: the champion, the model whose scores the snapshot serves, whether
    they agree, and (in the API) whether the server holds the champion loaded."""
    champion, serving = aliases.get(CHAMPION), snapshot.get("serving_model_version")
    reasons = []
    if champion is None:
        reasons.append("no champion model: run the train_signal_model job")
    elif serving != champion and snapshot.get("status") == "ok":
        reasons.append(f"the snapshot serves scores of {'version ' + serving if serving else 'no model'} but the champion is version "
                       f"{champion}: run the rescore_signals job (the champion sensor does, with the daemon)")
    if served is not None and served.get("error"):
        reasons.append(served["error"])
    return {
        "status": "ok" if not reasons else "unavailable" if champion is None or (served or {}).get("error") else "stale",
        "enabled": True, "champion_version": champion, "challenger_version": aliases.get(CHALLENGER),
        "serving_model_version": serving, "in_step": champion is not None and serving == champion,
        **({"loaded_version": served.get("loaded_version")} if served is not None else {}),
        "reason": "; ".join(reasons) or None,
    }


def status_report(snapshot_path: str, tracking_uri: str, home: Path | None, served: dict | None = None,
                  run_failures: list[dict] | None = None) -> dict:
    """The whole report, in the guide's shape (``system_status.ml_status``, ...) with the fields the
    project's clients already read (``data``, ``models``, ``recent_runs``, ``recent_failures``)."""
    snapshot = snapshot_facts(snapshot_path)
    aliases = registry_aliases(tracking_uri)
    runs, runs_from = dagster_runs(home)
    failures = [{"run_id": r["run_id"], "job": r["job"], "status": r["status"], "ended_at": r["ended_at"], "failure": r.get("failure")}
                for r in runs if r["status"] in FAILED or r["status"].endswith("(process gone)")]
    known = {f["run_id"] for f in failures}
    failures += [f for f in run_failures or [] if f.get("run_id") not in known]
    ml = ml_status(aliases, snapshot, served)
    data = {k: snapshot.get(k) for k in ("status", "newest_price_date", "symbols", "snapshot_published_at", "reason")}
    overall = "ok" if data["status"] == "ok" and ml["status"] == "ok" else "down" if data["status"] != "ok" else "degraded"
    return {
        "success": True,
        "system_status": {
            "status": overall, "data_status": data, "ml_status": ml,
            "pipeline_status": {"runs_from": runs_from, "recent_runs": len(runs), "recent_failures": len(failures),
                                "last_success": next(({"job": r["job"], "ended_at": r["ended_at"]} for r in runs if r["status"] == "SUCCESS"), None)},
        },
        "data": {k: snapshot.get(k) for k in ("newest_price_date", "symbols", "snapshot_published_at")},
        "models": aliases,
        "recent_runs": runs,
        "recent_failures": failures,
        "generated_at": now(),
    }
