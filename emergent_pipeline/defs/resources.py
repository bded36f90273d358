"""Resources bound to every asset: the DuckDB file, the price source and the MLflow store."""

from __future__ import annotations

import dagster as dg

from emergent_pipeline.defs.automation.resources import RetrainingPolicy
from emergent_pipeline.defs.ml.resources import MLflowResource
from emergent_pipeline.defs.prices.resources import PriceSourceResource
from emergent_pipeline.defs.store import PipelineStore
from emergent_pipeline.storage import default_db_path, ensure_parent_dir


@dg.definitions
def resources() -> dg.Definitions:
    db_path = default_db_path()
    ensure_parent_dir(db_path)
    mlflow = MLflowResource()
    return dg.Definitions(
        resources={
            "duckdb": PipelineStore(database=db_path, mlflow=mlflow),
            "price_source": PriceSourceResource(),
            "mlflow": mlflow,
            "retraining": RetrainingPolicy(),
        }
    )
