"""Small helpers that turn frames and charts into Dagster metadata a person can read in the UI.

Tables are Dagster tables (`MetadataValue.table` with a `TableSchema`), never Markdown text, so
the UI lays them out as tables; numbers are rounded to what a reader can use; every stored table's
columns, with their types and descriptions, go into `dagster/column_schema` (the Columns tab).
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
from dagster_duckdb import DuckDBResource

from emergent_pipeline.columns import describe
from emergent_pipeline.storage import table_exists

PREVIEW_ROWS = 10


def rounded(value: float) -> float | None:
    """4 significant digits below 1 (0.2003, and a 1e-9 setting stays 1e-9), else 4 decimals (2 from
    100 on); no negative zero; None for a missing value (Dagster shows NaN otherwise)."""
    if value is None or not math.isfinite(value):
        return None
    value = float(value)
    return (float(f"{value:.4g}") if abs(value) < 1 else round(value, 4 if abs(value) < 100 else 2)) + 0.0


def cell(value):
    """A table cell as Dagster takes it: days as text, numbers rounded, anything else as text."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, (pd.Timestamp, np.datetime64)):
        return f"{pd.Timestamp(value):%Y-%m-%d}"
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return rounded(value)
    return str(value)


def column_type(dtype) -> str:
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_integer_dtype(dtype):
        return "int"
    if pd.api.types.is_float_dtype(dtype):
        return "float"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "date"
    return "string"


def table_preview(frame: pd.DataFrame, rows: int = PREVIEW_ROWS, index: bool = False) -> dg.MetadataValue:
    """The first `rows` rows as a Dagster table (with the index as its first column if `index`)."""
    shown = frame.head(rows)
    if index:
        shown = shown.rename_axis(shown.index.name or "").reset_index()
    shown = shown.rename(columns=str)
    schema = dg.TableSchema(columns=[dg.TableColumn(name, column_type(dtype)) for name, dtype in shown.dtypes.items()])
    records = [dg.TableRecord({name: cell(value) for name, value in row.items()}) for row in shown.to_dict("records")]
    return dg.MetadataValue.table(records, schema)


def tidy(metadata: Mapping[str, object]) -> dict[str, object]:
    """Metadata with every float rounded (in JSON values too), so the UI shows 0.2003, not 0.20026695763128774."""
    def clean(value):
        if isinstance(value, (float, np.floating)):
            return rounded(value)
        if type(value) is dict:
            return {k: clean(v) for k, v in value.items()}
        if type(value) in (list, tuple):  # not Dagster's records (a TableSchema is a tuple)
            return [clean(v) for v in value]
        if isinstance(value, dg.JsonMetadataValue):
            return dg.MetadataValue.json(clean(value.data))
        return value
    return {key: clean(value) for key, value in metadata.items()}


def column_schema(conn: duckdb.DuckDBPyConnection, table: str) -> dg.TableSchema:
    """The stored table's columns with their DuckDB types and the data dictionary's descriptions."""
    columns = conn.execute(f"DESCRIBE {table}").fetchall()
    return dg.TableSchema(columns=[dg.TableColumn(name, str(kind), description=describe(table, name) or None) for name, kind, *_ in columns])


def table_metadata(duckdb: DuckDBResource, table: str, *more_tables: str) -> dict[str, object]:
    """`dagster/column_schema` of the asset's table (and `columns of <table>` for the other tables it
    writes), with its row count."""
    with duckdb.get_connection() as conn:
        rows = conn.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
        return {"dagster/column_schema": column_schema(conn, table), "dagster/row_count": int(rows),
                **{f"columns of {t}": dg.MetadataValue.table_schema(column_schema(conn, t)) for t in more_tables if table_exists(conn, t)}}


def png(image: bytes, alt: str) -> dg.MetadataValue:
    """A PNG embedded in Markdown, which the Dagster UI renders inline."""
    encoded = base64.b64encode(image).decode("ascii")
    return dg.MetadataValue.md(f"![{alt}](data:image/png;base64,{encoded})")


def date_range(frame: pd.DataFrame, column: str = "date") -> str:
    if frame.empty:
        return "empty"
    return f"{pd.Timestamp(frame[column].min()):%Y-%m-%d} → {pd.Timestamp(frame[column].max()):%Y-%m-%d}"
