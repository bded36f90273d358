"""The records of training: each training run and each replay run logged to MLflow, with what a person
reads there (params, metrics, datasets, plots, tables, the model with its signature, descriptions)."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.data.dataset_source_registry import get_dataset_source_from_json
from mlflow.entities.model_registry import ModelVersion
from mlflow.models import infer_signature

from emergent_pipeline.model_registry import CHALLENGER, MODEL_DESCRIPTION, STALE_VERSION_TAGS, ModelStore


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


@dataclass(frozen=True)
class TrainingLog:
    store: ModelStore

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
        experiment_id = self.store._activate()
        self.store.end_abandoned_runs()
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
                registered_model_name=self.store.model_name, serialization_format="cloudpickle",
                # Stated rather than inferred (inference re-imports the model in a subprocess, seconds
                # per run). The pickle needs this package too (its column filler), named last.
                pip_requirements=[f"{name}=={metadata.version(name)}" for name in ("scikit-learn", "cloudpickle", "numpy", "pandas")]
                + ["emergent-pipeline"],
            )
        client, number = self.store.client(), str(info.registered_model_version)
        client.set_registered_model_alias(self.store.model_name, CHALLENGER, number)
        for key, value in {**tags, "run_id": run.info.run_id}.items():
            client.set_model_version_tag(self.store.model_name, number, key, value)
        if client.get_registered_model(self.store.model_name).description != MODEL_DESCRIPTION:
            client.update_registered_model(self.store.model_name, description=MODEL_DESCRIPTION)
        self._drop_stale_version_tags()
        if description:
            self.store.describe(client.get_model_version(self.store.model_name, number), description)
        return client.get_model_version(self.store.model_name, number)

    def _drop_stale_version_tags(self) -> None:
        client = self.store.client()
        for version in client.search_model_versions(f"name = '{self.store.model_name}'"):
            for key in STALE_VERSION_TAGS:
                if key in version.tags:
                    client.delete_model_version_tag(self.store.model_name, version.version, key)

    def log_run(self, run_name: str, params: dict, metrics: dict[str, float], tags: dict[str, str],
                images: dict[str, bytes], tables: dict[str, pd.DataFrame], reports: dict[str, bytes] | None = None) -> str:
        """A run without a registered model (the walk-forward replay, the performance summary): params,
        metrics, tags, plots, tables and reports (HTML, under ``reports/``). Returns the run id."""
        experiment_id = self.store._activate()
        self.store.end_abandoned_runs()
        with mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags={"pid": str(os.getpid())}) as run:
            mlflow.log_params(params)
            mlflow.log_metrics({k: v for k, v in metrics.items() if pd.notna(v)})
            mlflow.set_tags(tags)
            self._log_files(images, tables)
            with tempfile.TemporaryDirectory() as folder:
                for name, content in (reports or {}).items():
                    path = Path(folder) / name
                    path.write_bytes(content)
                    mlflow.log_artifact(str(path), "reports")
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

