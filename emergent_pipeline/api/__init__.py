"""Serving: the REST API (FastAPI) and the Python API, over the snapshot the pipeline publishes."""

from emergent_pipeline.api.engine import MLEnhancedSignalEngine

__all__ = ["MLEnhancedSignalEngine"]
