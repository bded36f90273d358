"""The MLflow tracking store and model registry of the signal scorer.

Tracking lives in a SQLite file (MLflow 3 refuses its old file store), artifacts in a folder beside
it, both under ``mlruns/`` by default. Versions are addressed by alias, not stage: training sets
``challenger`` on each new version; ``champion`` moves only by the promotion rule or by a person in
the MLflow UI, and scoring always follows ``@champion``.

What a person reads in the MLflow UI is written here too: the experiment is tagged as model training
(not GenAI), each training run, the registered model and each version carry a description, the
training and hold-out sets are logged as datasets, and every move of ``@champion`` is a
``champion_move`` run of the experiment (an event with who, when, from and to) rather than a tag on
a version, which would go stale the moment someone moved the alias by hand.
"""

from __future__ import annotations

import json
import os
import tempfile
from importlib import metadata
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote, unquote, urlparse

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.data.dataset_source_registry import get_dataset_source_from_json
from mlflow.models import Model, infer_signature
from mlflow.store.tracking import SEARCH_MAX_RESULTS_DEFAULT

from emergent_pipeline.core.signal_model import ModelParams
from emergent_pipeline.paths import (  # noqa: F401 - re-exported
    CHALLENGER, CHAMPION, MODEL_NAME, PROJECT_ROOT, default_artifact_root, default_tracking_uri, mlflow_ui_url, process_alive,
)

EXPERIMENT_NAME = MODEL_NAME
EXPERIMENT_KIND_TAG, MODEL_TRAINING = "mlflow.experimentKind", "custom_model_development"
"""The experiment tag MLflow 3's UI reads for an experiment's kind, and its value for "Machine
learning": without it the experiment may open on the GenAI view (traces, tokens), empty here. (The
3.x UI's sidebar switch "GenAI / Model training" can override the tag; an address ending in
``?workflowType=machine_learning`` sets it. Links from Dagster leave that out: a run's or a version's
page shows the same either way, and the 30 more characters made the links wider than the metadata
column of the Dagster UI.)"""
NOTE_TAG = "mlflow.note.content"
"""The run (and experiment) tag the MLflow UI shows as its description."""
STALE_VERSION_TAGS = ("promoted", "promotion_reason", "features")
"""Version tags earlier versions of this module wrote and removes now: ``promoted`` said "not
promoted" of a version a person had since made champion; ``features`` (a 1 KB list) made the tag
table unreadable; the feature list is in the model's signature and the run's ``features.json``."""
CHAMPION_MOVE = "champion_move"
"""The ``event`` tag (and run name prefix) of the runs that log each move of ``@champion``."""
MOVED_OUTSIDE = "outside the pipeline (e.g. MLflow UI)"
NOT_RECORDED = "not recorded (the champion before the promotion log began)"
EXPERIMENT_DESCRIPTION = (
    "The signal scorer's runs: `train_signal_model` (one per training, registered as a version with "
    "alias `@challenger`), `walk_forward_replay` (the replay of the lifecycle over history), and "
    f"`{CHAMPION_MOVE}` runs, one per move of `@champion`: who or what moved it, when, from which "
    "version to which (a move made in the MLflow UI is logged when the pipeline notices it)."
)
MODEL_DESCRIPTION = (
    "Scores consensus trade signals: `ml_probability` (calibrated chance the signal makes money after "
    "costs) and `expected_return`. `@champion` is the version that serves (scoring and the API follow "
    "it); `@challenger` is the newest trained. The champion moves when a challenger is no worse than "
    "the champion's method on its hold-out and shows an edge of its own there, or when a person moves "
    f"the alias here. Every move is a `{CHAMPION_MOVE}` run in the experiment "
    f"`{EXPERIMENT_NAME}`; each version's description says what it learned and what the rule decided."
)


@dataclass
class DatasetInput:
    """A table a training run learned from or was judged on, for ``mlflow.log_input``: its rows
    (features and label), the file they were read from, the run's use of them (``training`` or
    ``evaluation``), and its window and counts as the input's tags, shown next to it on the run page."""

    name: str
    rows: pd.DataFrame
    context: str
    source: str
    tags: dict[str, str] = field(default_factory=dict)
    targets: str | None = "label"


@dataclass
class ModelStore:
    tracking_uri: str
    artifact_root: str
    model_name: str = MODEL_NAME
    experiment_name: str = EXPERIMENT_NAME

    def client(self) -> MlflowClient:
        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

    def _activate(self) -> str:
        """Point the mlflow module at this store and return the experiment id (created once, with
        its artifacts under ``artifact_root``)."""
        if self.tracking_uri.startswith("sqlite:///"):
            Path(self.tracking_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        Path(self.artifact_root).mkdir(parents=True, exist_ok=True)
        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.tracking_uri)
        client = self.client()
        experiment = client.get_experiment_by_name(self.experiment_name)
        if experiment is None:
            return client.create_experiment(self.experiment_name, artifact_location=Path(self.artifact_root).resolve().as_uri(),
                                            tags={EXPERIMENT_KIND_TAG: MODEL_TRAINING, NOTE_TAG: EXPERIMENT_DESCRIPTION})
        # An experiment made before these tags (or whose kind the UI guessed) is set right here.
        if experiment.tags.get(EXPERIMENT_KIND_TAG) != MODEL_TRAINING:
            client.set_experiment_tag(experiment.experiment_id, EXPERIMENT_KIND_TAG, MODEL_TRAINING)
        if not experiment.tags.get(NOTE_TAG):
            client.set_experiment_tag(experiment.experiment_id, NOTE_TAG, EXPERIMENT_DESCRIPTION)
        return experiment.experiment_id

    def end_abandoned_runs(self) -> list[str]:
        """Runs of the experiment still RUNNING whose process is gone (a training or replay that was
        killed) are marked KILLED, so the UI stops showing them as running. Each run records its
        process id (tag ``pid``) when it starts. Returns their ids."""
        experiment = self.client().get_experiment_by_name(self.experiment_name)
        if experiment is None:
            return []
        client = self.client()
        running = client.search_runs([experiment.experiment_id], filter_string="attributes.status = 'RUNNING'")
        abandoned = [run for run in running if run.data.tags.get("pid", "").isdigit()
                     and int(run.data.tags["pid"]) != os.getpid() and not process_alive(int(run.data.tags["pid"]))]
        for run in abandoned:
            client.set_terminated(run.info.run_id, status="KILLED")
        return [run.info.run_id for run in abandoned]

    def log_challenger(
        self,
        model,
        features: pd.DataFrame,
        params: dict,
        metrics: dict[str, float],
        tags: dict[str, str],
        images: dict[str, bytes],
        tables: dict[str, pd.DataFrame],
        description: str = "",
        datasets: list[DatasetInput] = (),
    ) -> ModelVersion:
        """Log a training run (params, metrics, its datasets, the feature list as ``features.json``,
        plots, the model with its signature and an input example), register it as a new version, point
        ``challenger`` at it, and give the run and the version ``description`` (what was trained on
        which window, hold-out figures). The feature list is not a version tag: the signature (which
        travels with the model's files) and ``features.json`` hold it."""
        experiment_id = self._activate()
        self.end_abandoned_runs()
        example = features.head(5)
        with mlflow.start_run(experiment_id=experiment_id, run_name="train_signal_model", tags={"pid": str(os.getpid())}) as run:
            mlflow.log_params(params)
            mlflow.log_metrics({k: v for k, v in metrics.items() if pd.notna(v)})
            mlflow.set_tags(tags)
            mlflow.log_dict({"features": list(features.columns)}, "features.json")
            for dataset in datasets:
                source = get_dataset_source_from_json(json.dumps({"uri": dataset.source}), source_type="local")
                mlflow.log_input(mlflow.data.from_pandas(dataset.rows, source=source, targets=dataset.targets, name=dataset.name),
                                 context=dataset.context, tags=dataset.tags)
            self._log_files(images, tables)
            signature = infer_signature(example, model.predict_proba(example)[:, 1])
            info = mlflow.sklearn.log_model(
                sk_model=model, name="model", signature=signature, input_example=example,
                registered_model_name=self.model_name, serialization_format="cloudpickle",
                # Stated rather than inferred (inference re-imports the model in a subprocess, seconds
                # per run). The pickle needs this package too (its column filler), named last.
                pip_requirements=[f"{name}=={metadata.version(name)}" for name in ("scikit-learn", "cloudpickle", "numpy", "pandas")]
                + ["emergent-pipeline"],
            )
        client, number = self.client(), str(info.registered_model_version)
        client.set_registered_model_alias(self.model_name, CHALLENGER, number)
        for key, value in {**tags, "run_id": run.info.run_id}.items():
            client.set_model_version_tag(self.model_name, number, key, value)
        if client.get_registered_model(self.model_name).description != MODEL_DESCRIPTION:
            client.update_registered_model(self.model_name, description=MODEL_DESCRIPTION)
        self._drop_stale_version_tags()
        if description:
            self.describe(client.get_model_version(self.model_name, number), description)
        return client.get_model_version(self.model_name, number)

    def describe(self, version: ModelVersion, text: str) -> None:
        """The same description on the version (its registry page) and on the run that trained it
        (the run page), so a person lands on it from either side."""
        client = self.client()
        client.update_model_version(self.model_name, str(version.version), description=text)
        run_id = self.training_run_id(version)
        if run_id:
            client.set_tag(run_id, NOTE_TAG, text)

    @staticmethod
    def training_run_id(version: ModelVersion) -> str | None:
        """The run that trained a version (None for a version registered from a bare folder)."""
        return version.run_id or version.tags.get("run_id") or None

    def add_to_description(self, version: ModelVersion, paragraph: str) -> None:
        """Append a paragraph (e.g. the promotion rule's verdict) to a version's description and its run's."""
        current = self.client().get_model_version(self.model_name, str(version.version))
        self.describe(current, f"{current.description}\n\n{paragraph}" if current.description else paragraph)

    def _drop_stale_version_tags(self) -> None:
        client = self.client()
        for version in client.search_model_versions(f"name = '{self.model_name}'"):
            for key in STALE_VERSION_TAGS:
                if key in version.tags:
                    client.delete_model_version_tag(self.model_name, version.version, key)

    def version_by_alias(self, alias: str) -> ModelVersion | None:
        """The version an alias points at, or None (no such alias, or no model registered yet)."""
        try:
            return self.client().get_model_version_by_alias(self.model_name, alias)
        except MlflowException:
            return None

    def log_run(self, run_name: str, params: dict, metrics: dict[str, float], tags: dict[str, str],
                images: dict[str, bytes], tables: dict[str, pd.DataFrame]) -> str:
        """A run without a registered model (the walk-forward replay): params, metrics, tags, plots and
        tables. Returns the run id."""
        experiment_id = self._activate()
        self.end_abandoned_runs()
        with mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags={"pid": str(os.getpid())}) as run:
            mlflow.log_params(params)
            mlflow.log_metrics({k: v for k, v in metrics.items() if pd.notna(v)})
            mlflow.set_tags(tags)
            self._log_files(images, tables)
            return run.info.run_id

    def _log_files(self, images: dict[str, bytes], tables: dict[str, pd.DataFrame]) -> None:
        """Plots under ``plots/``, tables as CSV under ``tables/``. A table's index is written when it
        means something (named, or not a plain row number) and always with a header: the caller's
        name, else ``row``, so no CSV starts with a blank column name."""
        with tempfile.TemporaryDirectory() as folder:
            for name, image in images.items():
                path = Path(folder) / name
                path.write_bytes(image)
                mlflow.log_artifact(str(path), "plots")
            for name, table in tables.items():
                path = Path(folder) / name
                meaningful = table.index.name is not None or not isinstance(table.index, pd.RangeIndex)
                table.to_csv(path, index=meaningful, index_label=(table.index.name or "row") if meaningful else None)
                mlflow.log_artifact(str(path), "tables")

    def model_location(self, version: ModelVersion) -> str:
        """Where a version's model files are: a folder on this machine for a local artifact store, else
        the artifact store's URI of them."""
        uri = self.client().get_model_version_download_uri(self.model_name, str(version.version))
        return unquote(urlparse(uri).path) if uri.startswith("file://") else uri

    def load(self, version: ModelVersion, location: str | None = None):
        """The model of a version (a ``core.signal_model.SignalScorer``), read where its files are
        (``location``, default :meth:`model_location`), writing nothing: loading by a ``models:/`` URI
        writes a ``registered_model_meta`` file into a local store's model folder, which fails on a
        read-only store and changes the files a server watches. A remote store's files are downloaded
        to a temporary folder."""
        location = location or self.model_location(version)
        if "://" not in location:
            return mlflow.sklearn.load_model(location)
        with tempfile.TemporaryDirectory() as folder:
            return mlflow.sklearn.load_model(location, dst_path=folder)

    def version(self, number: str) -> ModelVersion:
        return self.client().get_model_version(self.model_name, str(number))

    def params_of(self, version: ModelVersion):
        """The training parameters of a version (``core.signal_model.ModelParams``), or None when the
        version does not record them (a model trained elsewhere)."""
        recorded = version.tags.get("model_params")
        if not recorded:
            return None
        try:
            return ModelParams(**json.loads(recorded))
        except (TypeError, ValueError):
            return None

    def features_of(self, version: ModelVersion, location: str | None = None) -> list[str]:
        """The feature columns a version was trained on, in order: the inputs of its model's signature,
        which travel with the model's files (a version registered from a copied folder has them too);
        else the training run's ``features.json``. Scoring and the API select these columns. Reads only."""
        signature = Model.load(location or self.model_location(version)).signature
        if signature is not None and signature.inputs is not None:
            return list(signature.inputs.input_names())
        run_id = self.training_run_id(version)
        if not run_id:
            raise ValueError(f"version {version.version} has no signature and no training run: its features are unknown")
        with tempfile.TemporaryDirectory() as folder:
            return json.loads(Path(self.client().download_artifacts(run_id, "features.json", folder)).read_text())["features"]

    def move_champion(self, version: ModelVersion, moved_by: str, reason: str) -> str:
        """Point ``@champion`` at ``version`` and log the move as a ``champion_move`` run (an event: who
        or what moved it, when, from which version to which, why). A move made earlier outside the
        pipeline and not yet logged is logged first, so each event starts where the last one ended.
        The event is written before the alias moves, so the sensor never takes this move for a person's;
        if the alias cannot be set, the event is deleted. Returns the event's run id."""
        self.notice_champion_move(noticed_by=moved_by)
        previous = self.version_by_alias(CHAMPION)
        now = datetime.now(timezone.utc)
        event = self._log_champion_move(
            previous, str(version.version), moved_by, {"moved_at": f"{now:%Y-%m-%dT%H:%M:%SZ}", "reason": reason[:5000]},
            f"`@champion` moved from {self._named(previous)} to version {version.version} by {moved_by} at "
            f"{now:%Y-%m-%d %H:%M} UTC. Why: {reason}")
        try:
            self.client().set_registered_model_alias(self.model_name, CHAMPION, str(version.version))
        except Exception:
            self.client().delete_run(event)
            raise
        return event

    def notice_champion_move(self, noticed_by: str) -> str | None:
        """Log a move of ``@champion`` the log does not have (a person moved the alias in the MLflow UI,
        or a script did): the version it came from is the last logged one, and the time is when it was
        noticed, since MLflow records neither who moves an alias nor when. Returns the event's run id,
        or None when the log already ends on the current champion (or there is none)."""
        champion = self.version_by_alias(CHAMPION)
        if champion is None:
            return None
        last = self.last_champion_move()
        if last is not None and last.data.tags.get("to_version") == str(champion.version):
            return None
        now = datetime.now(timezone.utc)
        if last is None:
            return self._log_champion_move(
                "unknown", str(champion.version), NOT_RECORDED, {"noticed_at": f"{now:%Y-%m-%dT%H:%M:%SZ}", "noticed_by": noticed_by},
                f"`@champion` was on version {champion.version} when the promotion log began ({now:%Y-%m-%d %H:%M} UTC, "
                f"noticed by {noticed_by}); how it got there was not recorded.")
        earlier = last.data.tags.get("to_version")
        return self._log_champion_move(
            earlier, str(champion.version), MOVED_OUTSIDE, {"noticed_at": f"{now:%Y-%m-%dT%H:%M:%SZ}", "noticed_by": noticed_by},
            f"`@champion` was found on version {champion.version}, not on version {earlier} where the pipeline last "
            f"left it: moved {MOVED_OUTSIDE}. Noticed by {noticed_by} at {now:%Y-%m-%d %H:%M} UTC; MLflow does not "
            "record who moved it or exactly when.")

    def _champion_move_runs(self, order: str, max_results: int = SEARCH_MAX_RESULTS_DEFAULT) -> list:
        """The ``champion_move`` runs of the experiment by start time (``ASC`` or ``DESC``); none before it exists."""
        experiment = self.client().get_experiment_by_name(self.experiment_name)
        if experiment is None:
            return []
        return self.client().search_runs([experiment.experiment_id], filter_string=f"tags.event = '{CHAMPION_MOVE}'",
                                         order_by=[f"attributes.start_time {order}"], max_results=max_results)

    def last_champion_move(self):
        """The newest ``champion_move`` run (an ``mlflow.entities.Run``), or None."""
        runs = self._champion_move_runs("DESC", max_results=1)
        return runs[0] if runs else None

    def champion_moves(self) -> pd.DataFrame:
        """Every logged move of ``@champion``, oldest first: from and to version, who or what moved it,
        when it moved (``moved_at``, a move the pipeline made) or was noticed (``noticed_at``), the
        reason and the event's run id."""
        runs = self._champion_move_runs("ASC")
        columns = ["from_version", "to_version", "moved_by", "moved_at", "noticed_at", "noticed_by", "reason"]
        return pd.DataFrame([{**{c: run.data.tags.get(c) for c in columns}, "run_id": run.info.run_id} for run in runs],
                            columns=[*columns, "run_id"])

    def _log_champion_move(self, previous, to_version: str, moved_by: str, details: dict[str, str], note: str) -> str:
        experiment_id = self._activate()
        before = str(previous.version) if isinstance(previous, ModelVersion) else (previous or "none")
        client = self.client()
        run = client.create_run(experiment_id, run_name=f"{CHAMPION_MOVE} {before} → {to_version}", tags={
            "event": CHAMPION_MOVE, "from_version": before, "to_version": to_version, "moved_by": moved_by, **details, NOTE_TAG: note})
        client.set_terminated(run.info.run_id, status="FINISHED")
        return run.info.run_id

    @staticmethod
    def _named(version: ModelVersion | None) -> str:
        return f"version {version.version}" if version is not None else "no version (there was no champion)"

    def run_url(self, run_id: str) -> str:
        """The run's page in the MLflow UI (``paths.mlflow_ui_url``), by MLflow's short route: the
        experiment's route is 14 characters longer, too wide for the Dagster UI's metadata column."""
        return f"{mlflow_ui_url()}/#/runs/{run_id}"

    def version_url(self, version: ModelVersion) -> str:
        """The version's page in the MLflow UI's model registry."""
        return f"{mlflow_ui_url()}/#/models/{quote(self.model_name, safe='')}/versions/{version.version}"

    def tag(self, version: ModelVersion, tags: dict[str, str]) -> None:
        client = self.client()
        for key, value in tags.items():
            client.set_model_version_tag(self.model_name, version.version, key, str(value))
