"""The bundled real data as the core functions take it (validated prices, universe, fundamentals, index)."""

from __future__ import annotations

from functools import lru_cache

import pandas as pd

from emergent_pipeline.core.ohlcv import validate_ohlcv
from emergent_pipeline.sources.bundled import BundledSource


@lru_cache(maxsize=1)
def bundled() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    source = BundledSource()
    prices = validate_ohlcv(source.fetch_prices(None).raw).accepted
    return prices, source.universe(), source.fundamentals(), source.benchmark()
