"""A user's own CSV or Parquet files: daily bars, and optionally the universe, statements and an index,
each with a mapping from its column names to ours."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from emergent_pipeline.core.fundamentals import STATEMENT_COLUMNS, FundamentalsError, canonical, empty_statements
from emergent_pipeline.core.ohlcv import OHLCV_COLUMNS
from emergent_pipeline.sources.base import UNIVERSE_COLUMNS, FundamentalsFetch, PriceFetch, PriceSource


class SourceFileError(ValueError):
    """A configured file cannot be read as what it is meant to be; the message names file and cause."""


def read_table(path: str | Path, what: str = "price") -> pd.DataFrame:
    """Read a .csv or .parquet file, with a clear error for anything else, a missing or an empty file."""
    location = Path(path).expanduser()
    if not location.exists():
        raise FileNotFoundError(f"{what} file {location} does not exist")
    suffix = location.suffix.lower()
    try:
        if suffix == ".csv":
            return pd.read_csv(location)
        if suffix in {".parquet", ".pq"}:
            return pd.read_parquet(location)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, OSError, ValueError) as error:
        raise SourceFileError(f"{what} file {location} cannot be read: {type(error).__name__}: {error}") from error
    raise SourceFileError(f"{what} file {location} is neither .csv nor .parquet")


def apply_column_map(frame: pd.DataFrame, column_map: Mapping[str, str], ours=OHLCV_COLUMNS) -> pd.DataFrame:
    """Rename the file's columns (keys) to ours (values); names are also matched case-insensitively,
    so a file with ``Date, Open, ..., Ticker`` needs only ``{"Ticker": "symbol"}``."""
    renamed = frame.rename(columns=dict(column_map))
    lower = {c.lower(): c for c in renamed.columns if isinstance(c, str)}
    by_case = {lower[c]: c for c in ours if c not in renamed.columns and c in lower}
    return renamed.rename(columns=by_case)


def read_fundamentals(path: str | Path, column_map: Mapping[str, str]) -> pd.DataFrame:
    """A user's statements file in the canonical shape: ``symbol`` and ``period_end`` and/or ``filed``
    (the filing date; a file with only filing dates uses them as period ends too), optional ``kind``
    (annual by default), and any of ``core.fundamentals.FIELDS``; unknown columns are ignored."""
    frame = apply_column_map(read_table(path, "fundamentals"), column_map, STATEMENT_COLUMNS)
    if "period_end" not in frame.columns and "filed" in frame.columns:
        frame["period_end"] = frame["filed"]
    if "symbol" not in frame.columns or "period_end" not in frame.columns:
        raise FundamentalsError(
            f"fundamentals file {path} needs a symbol column and a period_end or filed column (map them with "
            f"fundamentals_column_map); it has {list(frame.columns)}"
        )
    if frame.empty:
        raise FundamentalsError(f"fundamentals file {path} has no rows")
    statements = canonical(frame)
    if statements.drop(columns=["symbol", "kind", "period_end", "filed"]).isna().all().all():
        raise FundamentalsError(
            f"fundamentals file {path} has no column the pipeline reads (after mapping: {list(frame.columns)}); "
            f"expected some of {STATEMENT_COLUMNS[4:]}"
        )
    return statements


class FileSource(PriceSource):
    """Bars from one file; universe and benchmark from optional companion files."""

    name = "file"

    def __init__(
        self,
        path: str,
        column_map: Mapping[str, str] | None = None,
        universe_path: str | None = None,
        benchmark_path: str | None = None,
        universe_column_map: Mapping[str, str] | None = None,
        fundamentals_path: str | None = None,
        fundamentals_column_map: Mapping[str, str] | None = None,
        corporate_actions_path: str | None = None,
    ) -> None:
        self.path = path
        self.column_map = dict(column_map or {})
        self.universe_path = universe_path
        self.benchmark_path = benchmark_path
        self.universe_column_map = dict(universe_column_map or {})
        self.fundamentals_path = fundamentals_path
        self.fundamentals_column_map = dict(fundamentals_column_map or {})
        self.corporate_actions_path = corporate_actions_path

    def fetch_prices(self, stored: pd.DataFrame) -> PriceFetch:
        raw = apply_column_map(read_table(self.path), self.column_map)
        requested = raw["symbol"].nunique() if "symbol" in raw.columns else 0
        return PriceFetch(raw=raw, requested=requested)

    def universe(self) -> pd.DataFrame:
        if self.universe_path:
            members = apply_column_map(read_table(self.universe_path, "universe"), self.universe_column_map, UNIVERSE_COLUMNS)
            if "symbol" not in members.columns:
                raise SourceFileError(
                    f"universe file {self.universe_path} has no symbol column (map it with universe_column_map); "
                    f"it has {list(members.columns)}"
                )
            members["symbol"] = members["symbol"].astype(str).str.strip().str.upper()
        else:
            raw = apply_column_map(read_table(self.path), self.column_map)
            if "symbol" not in raw.columns:
                raise SourceFileError(
                    f"price file {self.path} has no symbol column (map the file's name for it with column_map, "
                    f"e.g. {{Ticker: symbol}}); it has {list(raw.columns)}"
                )
            members = pd.DataFrame({"symbol": sorted(raw["symbol"].dropna().astype(str).str.upper().unique())})
        for column in UNIVERSE_COLUMNS:
            if column not in members.columns:
                members[column] = pd.NA
        return members[UNIVERSE_COLUMNS]

    def fundamentals(self, stored: pd.DataFrame | None = None) -> FundamentalsFetch:
        if not self.fundamentals_path:
            return FundamentalsFetch(empty_statements())
        statements = read_fundamentals(self.fundamentals_path, self.fundamentals_column_map)
        return FundamentalsFetch(statements, requested=statements["symbol"].nunique())

    def benchmark(self) -> pd.DataFrame | None:
        if not self.benchmark_path:
            return None
        index = apply_column_map(read_table(self.benchmark_path, "benchmark"), self.column_map)
        index["date"] = pd.to_datetime(index["date"])
        for column in ["open", "high", "low", "volume"]:
            if column not in index.columns:
                index[column] = float("nan")
        return index[["date", "open", "high", "low", "close", "volume"]]

    def index_name(self) -> str:
        return f"the index in {Path(self.benchmark_path).name}"

    def corporate_actions(self) -> pd.DataFrame | None:
        return read_table(self.corporate_actions_path, "corporate-actions") if self.corporate_actions_path else None

    def describe(self) -> dict[str, str]:
        return {
            "source": self.name,
            "corporate_actions": str(self.corporate_actions_path or "none listed (the rule finds them)"),
            "path": str(self.path),
            "universe": str(self.universe_path or "symbols of the price file (no names, no sectors)"),
            "fundamentals": str(self.fundamentals_path or "none"),
            "benchmark": str(self.benchmark_path or "equal-weight index of the universe"),
        }
