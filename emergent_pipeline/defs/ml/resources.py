"""The MLflow store as a Dagster resource (plain `mlflow` inside; dagster-mlflow's is legacy)."""

import dagster as dg
from pydantic import Field

from emergent_pipeline.model_registry import MODEL_NAME, ModelStore, default_artifact_root, default_tracking_uri


class MLflowResource(dg.ConfigurableResource):
    tracking_uri: str = Field(default_factory=default_tracking_uri, description="sqlite:///…/mlruns/mlflow.db by default.")
    artifact_root: str = Field(default_factory=default_artifact_root, description="Where run artifacts and models go.")
    model_name: str = Field(default=MODEL_NAME, description="The registered model scored by alias @champion.")

    def store(self) -> ModelStore:
        return ModelStore(self.tracking_uri, self.artifact_root, self.model_name)
