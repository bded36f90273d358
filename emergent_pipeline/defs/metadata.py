"""Small helpers that turn frames and charts into Dagster metadata a person can read in the UI."""

from __future__ import annotations

import base64

import dagster as dg
import pandas as pd

PREVIEW_ROWS = 10


def table_preview(frame: pd.DataFrame, rows: int = PREVIEW_ROWS) -> dg.MetadataValue:
    """The first ``rows`` rows as a Markdown table (dates shown as days)."""
    shown = frame.head(rows).copy()
    for column in shown.columns:
        if pd.api.types.is_datetime64_any_dtype(shown[column]):
            shown[column] = shown[column].dt.strftime("%Y-%m-%d")
    return dg.MetadataValue.md(shown.to_markdown(index=False, floatfmt=".4g") if not shown.empty else "_(none)_")


def png(image: bytes, alt: str) -> dg.MetadataValue:
    """A PNG embedded in Markdown, which the Dagster UI renders inline."""
    encoded = base64.b64encode(image).decode("ascii")
    return dg.MetadataValue.md(f"![{alt}](data:image/png;base64,{encoded})")


def date_range(frame: pd.DataFrame, column: str = "date") -> str:
    if frame.empty:
        return "empty"
    return f"{pd.Timestamp(frame[column].min()):%Y-%m-%d} → {pd.Timestamp(frame[column].max()):%Y-%m-%d}"
