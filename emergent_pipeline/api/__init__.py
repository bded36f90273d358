"""Serving: the REST API (FastAPI) and the Python API, over the snapshot the pipeline publishes.

``python -m emergent_pipeline.api`` starts the REST API (the options of `emergent-pipeline serve`)."""

from emergent_pipeline.api.champion import MLInferenceEngine
from emergent_pipeline.api.engine import MLEnhancedSignalEngine, SignalList

__all__ = ["MLEnhancedSignalEngine", "MLInferenceEngine", "SignalList"]
