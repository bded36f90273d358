"""The log of ``@champion``'s moves: every move is a ``champion_move`` run of the experiment.

MLflow keeps no history of an alias (who moved it, when, from which version): a tag on a version would
go stale the moment someone moved the alias by hand. So each move, by the pipeline or noticed after a
person made it in the MLflow UI, is an event run with who or what moved it, when, from and to.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import pandas as pd
from mlflow.entities.model_registry import ModelVersion
from mlflow.store.tracking import SEARCH_MAX_RESULTS_DEFAULT

from emergent_pipeline.model_registry import CHAMPION, CHAMPION_MOVE, MOVED_OUTSIDE, NOT_RECORDED, NOTE_TAG, ModelStore


@dataclass(frozen=True)
class ChampionLog:
    store: ModelStore

    def move(self, version: ModelVersion, moved_by: str, reason: str) -> str:
        """Point ``@champion`` at ``version`` and log the move as a ``champion_move`` run (an event: who
        or what moved it, when, from which version to which, why). A move made earlier outside the
        pipeline and not yet logged is logged first, so each event starts where the last one ended.
        The event is written before the alias moves, so the sensor never takes this move for a person's;
        if the alias cannot be set, the event is deleted. Returns the event's run id."""
        self.notice(noticed_by=moved_by)
        previous = self.store.version_by_alias(CHAMPION)
        now = datetime.now(timezone.utc)
        event = self._log(
            previous, str(version.version), moved_by, {"moved_at": f"{now:%Y-%m-%dT%H:%M:%SZ}", "reason": reason[:5000]},
            f"`@champion` moved from {self._named(previous)} to version {version.version} by {moved_by} at "
            f"{now:%Y-%m-%d %H:%M} UTC. Why: {reason}")
        try:
            self.store.client().set_registered_model_alias(self.store.model_name, CHAMPION, str(version.version))
        except Exception:
            self.store.client().delete_run(event)
            raise
        return event

    def notice(self, noticed_by: str) -> str | None:
        """Log a move of ``@champion`` the log does not have (a person moved the alias in the MLflow UI,
        or a script did): the version it came from is the last logged one, and the time is when it was
        noticed, since MLflow records neither who moves an alias nor when. Returns the event's run id,
        or None when the log already ends on the current champion (or there is none)."""
        champion = self.store.version_by_alias(CHAMPION)
        if champion is None:
            return None
        last = self.last()
        if last is not None and last.data.tags.get("to_version") == str(champion.version):
            return None
        now = datetime.now(timezone.utc)
        if last is None:
            return self._log(
                "unknown", str(champion.version), NOT_RECORDED, {"noticed_at": f"{now:%Y-%m-%dT%H:%M:%SZ}", "noticed_by": noticed_by},
                f"`@champion` was on version {champion.version} when the promotion log began ({now:%Y-%m-%d %H:%M} UTC, "
                f"noticed by {noticed_by}); how it got there was not recorded.")
        earlier = last.data.tags.get("to_version")
        return self._log(
            earlier, str(champion.version), MOVED_OUTSIDE, {"noticed_at": f"{now:%Y-%m-%dT%H:%M:%SZ}", "noticed_by": noticed_by},
            f"`@champion` was found on version {champion.version}, not on version {earlier} where the pipeline last "
            f"left it: moved {MOVED_OUTSIDE}. Noticed by {noticed_by} at {now:%Y-%m-%d %H:%M} UTC; MLflow does not "
            "record who moved it or exactly when.")

    def _runs(self, order: str, max_results: int = SEARCH_MAX_RESULTS_DEFAULT) -> list:
        """The ``champion_move`` runs of the experiment by start time (``ASC`` or ``DESC``); none before it exists."""
        experiment = self.store.client().get_experiment_by_name(self.store.experiment_name)
        if experiment is None:
            return []
        return self.store.client().search_runs([experiment.experiment_id], filter_string=f"tags.event = '{CHAMPION_MOVE}'",
                                         order_by=[f"attributes.start_time {order}"], max_results=max_results)

    def last(self):
        """The newest ``champion_move`` run (an ``mlflow.entities.Run``), or None."""
        runs = self._runs("DESC", max_results=1)
        return runs[0] if runs else None

    def table(self) -> pd.DataFrame:
        """Every logged move of ``@champion``, oldest first: from and to version, who or what moved it,
        when it moved (``moved_at``, a move the pipeline made) or was noticed (``noticed_at``), the
        reason and the event's run id."""
        runs = self._runs("ASC")
        columns = ["from_version", "to_version", "moved_by", "moved_at", "noticed_at", "noticed_by", "reason"]
        return pd.DataFrame([{**{c: run.data.tags.get(c) for c in columns}, "run_id": run.info.run_id} for run in runs],
                            columns=[*columns, "run_id"])

    def _log(self, previous, to_version: str, moved_by: str, details: dict[str, str], note: str) -> str:
        experiment_id = self.store._activate()
        before = str(previous.version) if isinstance(previous, ModelVersion) else (previous or "none")
        client = self.store.client()
        run = client.create_run(experiment_id, run_name=f"{CHAMPION_MOVE} {before} → {to_version}", tags={
            "event": CHAMPION_MOVE, "from_version": before, "to_version": to_version, "moved_by": moved_by, **details, NOTE_TAG: note})
        client.set_terminated(run.info.run_id, status="FINISHED")
        return run.info.run_id

    @staticmethod
    def _named(version: ModelVersion | None) -> str:
        return f"version {version.version}" if version is not None else "no version (there was no champion)"

