"""A user's own CSV or Parquet file of daily bars, with a mapping from its column names to ours."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from emergent_pipeline.core.ohlcv import OHLCV_COLUMNS
from emergent_pipeline.sources.base import UNIVERSE_COLUMNS, PriceFetch, PriceSource


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a .csv or .parquet file, with a clear error for anything else or a missing file."""
    location = Path(path).expanduser()
    if not location.exists():
        raise FileNotFoundError(f"price file {location} does not exist")
    suffix = location.suffix.lower()
    if suffix == ".csv":
        return pd.read_csv(location)
    if suffix in {".parquet", ".pq"}:
        return pd.read_parquet(location)
    raise ValueError(f"price file {location} is neither .csv nor .parquet")


def apply_column_map(frame: pd.DataFrame, column_map: Mapping[str, str]) -> pd.DataFrame:
    """Rename the file's columns (keys) to ours (values); names are also matched case-insensitively,
    so a file with ``Date, Open, ..., Ticker`` needs only ``{"Ticker": "symbol"}``."""
    renamed = frame.rename(columns=dict(column_map))
    lower = {c.lower(): c for c in renamed.columns if isinstance(c, str)}
    by_case = {lower[c]: c for c in OHLCV_COLUMNS if c not in renamed.columns and c in lower}
    return renamed.rename(columns=by_case)


class FileSource(PriceSource):
    """Bars from one file; universe and benchmark from optional companion files."""

    name = "file"

    def __init__(
        self,
        path: str,
        column_map: Mapping[str, str] | None = None,
        universe_path: str | None = None,
        benchmark_path: str | None = None,
    ) -> None:
        self.path = path
        self.column_map = dict(column_map or {})
        self.universe_path = universe_path
        self.benchmark_path = benchmark_path

    def fetch_prices(self, stored: pd.DataFrame) -> PriceFetch:
        raw = apply_column_map(read_table(self.path), self.column_map)
        requested = raw["symbol"].nunique() if "symbol" in raw.columns else 0
        return PriceFetch(raw=raw, requested=requested)

    def universe(self) -> pd.DataFrame:
        if self.universe_path:
            members = read_table(self.universe_path)
        else:
            raw = apply_column_map(read_table(self.path), self.column_map)
            members = pd.DataFrame({"symbol": sorted(raw["symbol"].dropna().astype(str).str.upper().unique())})
        for column in UNIVERSE_COLUMNS:
            if column not in members.columns:
                members[column] = pd.NA
        return members[UNIVERSE_COLUMNS]

    def fundamentals(self) -> pd.DataFrame:
        return pd.DataFrame({"symbol": pd.Series(dtype="object"), "as_of": pd.Series(dtype="datetime64[ns]")})

    def benchmark(self) -> pd.DataFrame | None:
        if not self.benchmark_path:
            return None
        index = apply_column_map(read_table(self.benchmark_path), self.column_map)
        index["date"] = pd.to_datetime(index["date"])
        for column in ["open", "high", "low", "volume"]:
            if column not in index.columns:
                index[column] = float("nan")
        return index[["date", "open", "high", "low", "close", "volume"]]

    def describe(self) -> dict[str, str]:
        return {
            "source": self.name,
            "path": str(self.path),
            "benchmark": str(self.benchmark_path or "equal-weight index of the universe"),
        }
