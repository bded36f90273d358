"""What ``GET /system/status`` and ``emergent-pipeline status`` report: the snapshot being served, the
model registry's aliases and the Dagster instance's recent runs, failures included.

The registry is read through ``MlflowClient`` and the runs through ``DagsterInstance``, their public
APIs, whatever store each is configured with (SQLite files, an MLflow server, PostgreSQL): an upgrade
of either library changes nothing here. Neither is imported until a report is asked for.

Two audiences: the command, run on the pipeline's own machine, shows each failure's cause as the run
recorded it (paths and messages included); the REST API, which anyone who reaches the port may call,
shows what failed and the kind of failure in words, and leaves the detail to the run's log in the
Dagster UI. A failure message names the user's files, folders and data; it is not for every caller.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from emergent_pipeline.paths import CHALLENGER, CHAMPION, MODEL_NAME, process_alive

FAILED = ("FAILURE", "CANCELED")
RUN_WINDOW = 50
"""Runs read to find each job's newest one (the report lists the newest ten)."""
DETAIL_ELSEWHERE = "the run's log in the Dagster UI has the detail"


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _iso(value: float | datetime | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return moment.astimezone(timezone.utc).isoformat(timespec="seconds")
    return datetime.fromtimestamp(value, timezone.utc).isoformat(timespec="seconds")


def snapshot_facts(path: str) -> dict:
    """The served snapshot: newest price day, symbols, publication time (the manifest's, written when the
    pipeline published it; a copied file keeps it), and the model whose scores it serves."""
    if not os.path.exists(path):
        return {"status": "no data", "reason": "no serving snapshot yet: run the daily_refresh job on your data (`emergent-pipeline run daily_refresh -c your.yaml`; `make run` builds the bundled US demo)"}
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
        "snapshot_published_at": _iso(manifest.get("published_at")),
        "serving_model_version": manifest.get("model_version"),
        "newest_signal_date": None if manifest.get("signal_date") is None else str(manifest["signal_date"]),
    }


def registry_aliases(tracking_uri: str, model_name: str = MODEL_NAME) -> dict[str, str | None]:
    """Which version ``champion`` and ``challenger`` point at (None: no such alias, or no registry yet)."""
    if tracking_uri.startswith("sqlite:///") and not Path(tracking_uri.removeprefix("sqlite:///")).exists():
        return {CHAMPION: None, CHALLENGER: None}  # nothing registered; opening the URI would create the database
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    aliases: dict[str, str | None] = {}
    for alias in (CHAMPION, CHALLENGER):
        try:
            aliases[alias] = str(client.get_model_version_by_alias(model_name, alias).version)
        except MlflowException:
            aliases[alias] = None
    return aliases


CHECK_FAILED = "DagsterAssetCheckFailedError"
"""The error Dagster raises in a step whose blocking asset check failed."""


def step_failure(event) -> dict:
    """A failed step's event (a ``DagsterEvent``) as the step, the kind of failure in words, and its own message."""
    data = event.step_failure_data
    described = data.user_failure_data.description if data.user_failure_data else None
    error = data.error.cls_name if data.error else None
    kind = "input refused" if described else "a blocking check failed" if error == CHECK_FAILED else f"error {error}" if error else "failed"
    message = (described or (data.error.message if data.error else "") or "failed").strip()
    return {"step": event.step_key, "kind": kind, "message": f"{event.step_key}: {message}", "error": error}


def _failure(instance, run_id: str) -> dict:
    """Why a run failed, from its events: the first failed step, else the run's failure message."""
    import dagster as dg

    entries = instance.all_logs(run_id, of_type={dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.RUN_FAILURE,
                                                 dg.DagsterEventType.RUN_CANCELED})
    for entry in entries:
        if entry.dagster_event.is_step_failure:
            return step_failure(entry.dagster_event)
    for entry in reversed(entries):
        return {"step": None, "kind": "run failed before any step" if entry.dagster_event.is_run_failure else "canceled",
                "message": entry.dagster_event.message or entry.user_message}
    return {"step": None, "kind": "failed", "message": None}


def run_process_id(instance, run_id: str) -> int | None:
    """The process that executes a run: the newest process id its start and engine events carry."""
    import dagster as dg

    pids = [e.dagster_event.pid for e in instance.all_logs(run_id, of_type={dg.DagsterEventType.RUN_START, dg.DagsterEventType.ENGINE_EVENT})]
    return next((int(p) for p in reversed(pids) if p), None)


def _gone(instance, run_id: str) -> int | None:
    """The process id of a run shown as started whose process is no longer there, else None."""
    pid = run_process_id(instance, run_id)
    return pid if pid is not None and not process_alive(pid) else None


def _run_entry(instance, record, explain: bool) -> dict:
    """A run as the report shows it; with ``explain``, a failed one with why, a started one whose
    process is gone flagged."""
    run = record.dagster_run
    entry = {"run_id": run.run_id, "job": run.job_name, "status": run.status.value,
             "started_at": _iso(record.start_time), "ended_at": _iso(record.end_time)}
    if not explain:
        return entry
    if entry["status"] in FAILED:
        entry["cause"] = _failure(instance, run.run_id)
    elif entry["status"] == "STARTED" and (pid := _gone(instance, run.run_id)) is not None:
        entry["status"] = "STARTED (process gone)"
        entry["cause"] = {"step": None, "kind": "process gone", "message": f"its process (pid {pid}) is gone: the next run marks it failed"}
    return entry


def _has_run_storage(home: Path) -> bool:
    """Whether the instance has stored runs to read: its default SQLite storage exists, or its
    dagster.yaml configures a storage elsewhere. (Opening an instance with neither creates files.)"""
    config = home / "dagster.yaml"
    return (home / "history").exists() or (config.exists() and "storage" in config.read_text())


def dagster_runs(home: Path | None, limit: int = 10) -> tuple[list[dict], str]:
    """The instance's newest runs (``RUN_WINDOW`` of them, newest first; the report shows ``limit``),
    each failed one with its cause; and where they were read from (or why there are none)."""
    if home is None:
        return [], "no Dagster instance: set DAGSTER_HOME (make run and make dev use .dagster_home)"
    if not _has_run_storage(home):
        return [], "the Dagster instance has no run yet"
    try:
        import dagster as dg

        with dg.DagsterInstance.from_config(str(home)) as instance:
            records = instance.get_run_records(limit=max(limit, RUN_WINDOW))
            return [_run_entry(instance, r, explain=i < limit) for i, r in enumerate(records)], "the Dagster instance"
    except Exception as error:  # noqa: BLE001 - the status must answer even when the instance cannot be read
        return [], f"the Dagster instance cannot be read ({type(error).__name__})"


def failing_jobs(runs: list[dict]) -> list[dict]:
    """Jobs whose newest run failed: what they last served is older than it should be; with the
    command that runs the job again with that run's config."""
    newest: dict[str, dict] = {}
    for run in runs:  # newest first
        newest.setdefault(run["job"], run)
    return [{"job": job, "run_id": run["run_id"], "ended_at": run["ended_at"], "rerun": f"emergent-pipeline rerun {run['run_id']}"}
            for job, run in newest.items() if run["status"] == "FAILURE"]  # a run a person canceled is no failure of the job


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


def shown_failure(cause: dict | None, detail: bool) -> str | None:
    """A failure as a caller reads it: the run's own message (``detail``), else the failed step and the
    kind of failure in words, with where the detail is."""
    if cause is None:
        return None
    if detail:
        return cause["message"]
    where = f"step {cause['step']}" if cause.get("step") else "the run"
    return f"{where}: {cause['kind']}; {DETAIL_ELSEWHERE}"


def status_report(snapshot_path: str, tracking_uri: str, home: Path | None, served: dict | None = None,
                  run_failures: list[dict] | None = None, detail: bool = True) -> dict:
    """The whole report, in the guide's shape (``system_status.ml_status``, ...) with the fields the
    project's clients already read (``data``, ``models``, ``recent_runs``, ``recent_failures``).
    ``detail``: each failure's own message (paths included), for the pipeline's own machine; without
    it, the kind of failure in words. ``run_failures``: failures recorded elsewhere (the
    ``run_failures`` table), each with ``message``."""
    snapshot = snapshot_facts(snapshot_path)
    aliases = registry_aliases(tracking_uri)
    window, runs_from = dagster_runs(home)
    runs = window[:10]
    failures = [{"run_id": r["run_id"], "job": r["job"], "status": r["status"], "ended_at": r["ended_at"], "cause": r.get("cause")}
                for r in runs if r["status"] in FAILED or r["status"].endswith("(process gone)")]
    known = {f["run_id"] for f in failures}
    failures += [{**{k: f.get(k) for k in ("run_id", "job", "status", "ended_at")},
                  "cause": {"step": None, "kind": "recorded by run_failure_recorder", "message": f.get("message")}}
                 for f in run_failures or [] if f.get("run_id") not in known]
    for entry in [*runs, *failures]:
        if "cause" in entry:
            entry["failure"] = shown_failure(entry.pop("cause"), detail)
    ml = ml_status(aliases, snapshot, served)
    failing = failing_jobs(window)
    data = {k: snapshot.get(k) for k in ("status", "newest_price_date", "symbols", "snapshot_published_at", "reason")}
    reasons = [data["reason"]] if data["status"] != "ok" else []
    reasons += [ml["reason"]] if ml["status"] != "ok" else []
    reasons += [f"the newest run of {f['job']} failed ({f['ended_at']}): what it produces is not up to date; once its cause is "
                f"mended, `{f['rerun']}` runs it again with its config" for f in failing]
    overall = "down" if data["status"] != "ok" else "degraded" if reasons else "ok"
    return {
        "success": True,
        "system_status": {
            "status": overall, "reasons": reasons, "data_status": data, "ml_status": ml,
            "pipeline_status": {"runs_from": runs_from, "recent_runs": len(runs), "recent_failures": len(failures), "failing_jobs": failing,
                                "last_success": next(({"job": r["job"], "ended_at": r["ended_at"]} for r in window if r["status"] == "SUCCESS"), None)},
        },
        "data": {k: snapshot.get(k) for k in ("newest_price_date", "symbols", "snapshot_published_at")},
        "models": aliases,
        "recent_runs": runs,
        "recent_failures": failures,
        "generated_at": now(),
    }
