"""Reading the pipeline's tables inside an asset: one short-lived DuckDB connection per call."""

import pandas as pd
from dagster_duckdb import DuckDBResource

from emergent_pipeline.storage import read_table


def load_tables(duckdb: DuckDBResource, *tables: str) -> list[pd.DataFrame | None]:
    """Each named table as a DataFrame (None for a table that does not exist yet)."""
    with duckdb.get_connection() as conn:
        return [read_table(conn, t) for t in tables]
