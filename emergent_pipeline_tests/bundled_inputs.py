"""The bundled real data as the core functions take it, loaded once per test session."""

from __future__ import annotations

from functools import lru_cache

import pandas as pd

from emergent_pipeline.sources.bundled import load_bundled_inputs


@lru_cache(maxsize=1)
def bundled() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    return load_bundled_inputs()
