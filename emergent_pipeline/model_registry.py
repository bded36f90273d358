"""The MLflow tracking store and model registry of the signal scorer.

Tracking lives in a SQLite file (MLflow 3 refuses its old file store), artifacts in a folder beside
it, both under ``mlruns/`` by default. Versions are addressed by alias, not stage: training sets
``challenger`` on each new version; ``champion`` moves only by the promotion rule or by a person in
the MLflow UI, and scoring always follows ``@champion``.
"""

from __future__ import annotations

import json
import os
import tempfile
from importlib import metadata
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature

from emergent_pipeline.core.signal_model import ModelParams
from emergent_pipeline.paths import CHALLENGER, CHAMPION, MODEL_NAME, PROJECT_ROOT, default_tracking_uri, process_alive  # noqa: F401 - re-exported

EXPERIMENT_NAME = MODEL_NAME


def default_artifact_root() -> str:
    """``artifacts`` beside the tracking database when it is a sqlite file, else ``mlruns/artifacts``."""
    uri = default_tracking_uri()
    if uri.startswith("sqlite:///"):
        return str(Path(uri.removeprefix("sqlite:///")).parent / "artifacts")
    return str(PROJECT_ROOT / "mlruns" / "artifacts")


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
        experiment = self.client().get_experiment_by_name(self.experiment_name)
        if experiment is not None:
            return experiment.experiment_id
        return self.client().create_experiment(self.experiment_name, artifact_location=Path(self.artifact_root).resolve().as_uri())

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
    ) -> ModelVersion:
        """Log a training run (params, metrics, feature list, plots, the model with its signature
        and an input example), register it as a new version and point ``challenger`` at it."""
        experiment_id = self._activate()
        self.end_abandoned_runs()
        example = features.head(5)
        with mlflow.start_run(experiment_id=experiment_id, run_name="train_signal_model", tags={"pid": str(os.getpid())}) as run:
            mlflow.log_params(params)
            mlflow.log_metrics({k: v for k, v in metrics.items() if pd.notna(v)})
            mlflow.set_tags(tags)
            mlflow.log_dict({"features": list(features.columns)}, "features.json")
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
        version = self.client().get_model_version(self.model_name, str(info.registered_model_version))
        client = self.client()
        client.set_registered_model_alias(self.model_name, CHALLENGER, version.version)
        for key, value in {**tags, "features": json.dumps(list(features.columns)), "run_id": run.info.run_id}.items():
            client.set_model_version_tag(self.model_name, version.version, key, value)
        return version

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
        with tempfile.TemporaryDirectory() as folder:
            for name, image in images.items():
                path = Path(folder) / name
                path.write_bytes(image)
                mlflow.log_artifact(str(path), "plots")
            for name, table in tables.items():
                path = Path(folder) / name
                table.to_csv(path, index=table.index.name is not None or not isinstance(table.index, pd.RangeIndex))
                mlflow.log_artifact(str(path), "tables")

    def load(self, version: ModelVersion):
        """The model of a version (a ``core.signal_model.SignalScorer``)."""
        self._activate()
        return mlflow.sklearn.load_model(f"models:/{self.model_name}/{version.version}")

    def artifact_signature(self, version: ModelVersion) -> tuple | None:
        """(name, size, mtime) of every file of a version's model, when its artifacts are on this
        machine: a server compares it with what it loaded to notice a model changed or removed under
        it. None for a remote artifact store (nothing to compare); an empty tuple when the files are gone."""
        uri = self.client().get_model_version_download_uri(self.model_name, version.version)
        if not uri.startswith("file://"):
            return None
        folder = Path(unquote(urlparse(uri).path))
        return tuple(sorted((str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns)
                            for p in folder.rglob("*") if p.is_file())) if folder.is_dir() else ()

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

    def features_of(self, version: ModelVersion) -> list[str]:
        return json.loads(version.tags["features"])

    def promote(self, version: ModelVersion, reason: str) -> None:
        client = self.client()
        client.set_registered_model_alias(self.model_name, CHAMPION, version.version)
        client.set_model_version_tag(self.model_name, version.version, "promoted", "true")
        client.set_model_version_tag(self.model_name, version.version, "promotion_reason", reason)

    def tag(self, version: ModelVersion, tags: dict[str, str]) -> None:
        client = self.client()
        for key, value in tags.items():
            client.set_model_version_tag(self.model_name, version.version, key, str(value))
