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

import functools
import json
import os
import tempfile
from dataclasses import dataclass
from typing import TYPE_CHECKING
from pathlib import Path
from urllib.parse import quote, unquote, urlparse

import mlflow
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.models import Model

from emergent_pipeline.core.signal_model import ModelParams
from emergent_pipeline.paths import (  # noqa: F401 - re-exported
    CHALLENGER, CHAMPION, MODEL_NAME, PROJECT_ROOT, default_artifact_root, default_tracking_uri, mlflow_ui_url, process_alive,
)


if TYPE_CHECKING:
    from emergent_pipeline.champion_log import ChampionLog
    from emergent_pipeline.training_log import TrainingLog

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

    def version_by_alias(self, alias: str) -> ModelVersion | None:
        """The version an alias points at, or None (no such alias, or no model registered yet)."""
        try:
            return self.client().get_model_version_by_alias(self.model_name, alias)
        except MlflowException:
            return None

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

    @functools.cached_property
    def moves(self) -> "ChampionLog":
        """The log of ``@champion``'s moves (``champion_log.ChampionLog``)."""
        from emergent_pipeline.champion_log import ChampionLog

        return ChampionLog(self)

    @functools.cached_property
    def training(self) -> "TrainingLog":
        """The records of training and replay runs (``training_log.TrainingLog``)."""
        from emergent_pipeline.training_log import TrainingLog

        return TrainingLog(self)

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
