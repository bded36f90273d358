"""What every strategy returns, and the helpers that build it without a loop over rows.

Reasons are assembled with Arrow's vectorised string kernels (formatting numbers one Python string
at a time would cost more than all the rules together); the indicator values a rule used are a typed
Arrow map per row, stored by DuckDB as ``MAP(VARCHAR, DOUBLE)``, never formatted as text.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

SIGNAL_COLUMNS = [
    "symbol", "date", "strategy", "signal_type", "confidence", "entry_price", "target_price",
    "stop_loss", "validity_days", "reason", "indicators",
]
Text = pa.Array | str


def squash(score: pd.Series | np.ndarray, scale: float) -> np.ndarray:
    """Confidence in [0, 1) from a non-negative score: 1 - exp(-score / scale).

    Monotone and never saturated (unlike min(score / k, 1)), so stronger setups keep ranking higher.
    """
    return 1.0 - np.exp(-np.clip(np.asarray(score, dtype="float64"), 0.0, None) / scale)


def log_ratio(value: pd.Series, floor: float) -> pd.Series:
    """log(value / floor): 0 at the threshold, growing slowly beyond it, so one extreme input
    (a 40× volume day) does not decide the confidence alone. Rows below the floor never fire."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(value / floor)


def fires(*conditions: pd.Series) -> np.ndarray:
    """All conditions true; a comparison with a missing value is False, so missing never passes."""
    mask = np.ones(len(conditions[0]), dtype=bool)
    for condition in conditions:
        values = condition.to_numpy() if isinstance(condition, pd.Series) else np.asarray(condition)
        mask &= values.astype(bool) if values.dtype == bool else pd.array(values, dtype="boolean").fillna(False).to_numpy(dtype=bool)
    return mask


def lag(panel: pd.DataFrame, values: pd.Series | np.ndarray, periods: int) -> pd.Series:
    """``values`` as they were ``periods`` bars earlier for the same symbol (NaN before its start).
    The panel is ordered by (symbol, date) with ``bar`` numbering each symbol's bars."""
    source = np.asarray(values, dtype="float64")
    out = np.full(len(source), np.nan)
    out[periods:] = source[:-periods]
    out[panel["bar"].to_numpy() < periods] = np.nan
    return pd.Series(out, index=panel.index)


def trailing_windows(panel: pd.DataFrame, values: np.ndarray, rows: np.ndarray, window: int) -> np.ndarray:
    """(len(rows) × window) matrix of each row's last ``window`` values, oldest first; NaN rows
    where the symbol has fewer bars. For indicators only a few candidate rows need."""
    padded = np.concatenate([np.full(window - 1, np.nan), np.asarray(values, dtype="float64")])
    windows = np.lib.stride_tricks.sliding_window_view(padded, window)[rows]  # a copy: row i's window ends at i
    windows[panel["bar"].to_numpy()[rows] < window - 1] = np.nan
    return windows


def num(values: pd.Series | np.ndarray | pa.Array, digits: int = 2) -> pa.Array:
    numbers = values if isinstance(values, pa.Array) else pa.array(np.asarray(values, dtype="float64"))
    return pc.cast(pc.round(numbers, digits), pa.string())


def pct(values: pd.Series | np.ndarray) -> pa.Array:
    """+8.3% style text."""
    numbers = pa.array(np.asarray(values, dtype="float64"))
    sign = pc.if_else(pc.greater_equal(numbers, 0.0), "+", "")  # Arrow kernels: no Python string per row
    return text(sign, num(pc.multiply(numbers, 100.0), 1), "%")


def label(values: pd.Series) -> pa.Array:
    return pa.array(values.astype(str).to_numpy())


def text(*parts: Text) -> pa.Array:
    """Element-wise concatenation of Arrow string arrays and literal strings."""
    return pc.binary_join_element_wise(*[pa.scalar(p) if isinstance(p, str) else p for p in parts], "")


def indicator_map(columns: dict[str, np.ndarray], rows: int) -> pd.arrays.ArrowExtensionArray:
    """One map of name → value per row from numeric columns, built from the whole columns at once
    (null for a missing or infinite value)."""
    values = np.column_stack([np.asarray(v, dtype="float64") for v in columns.values()]) if columns else np.empty((rows, 0))
    flat = values.ravel()  # row by row: each row's values in the order of ``columns``
    items = pa.array(np.where(np.isfinite(flat), flat, np.nan), from_pandas=True)
    names = pa.array(list(columns), type=pa.string()).take(np.tile(np.arange(len(columns)), rows))
    offsets = pa.array(np.arange(rows + 1, dtype=np.int32) * len(columns))
    return pd.arrays.ArrowExtensionArray(pa.MapArray.from_arrays(offsets, names, items))


def empty_signals() -> pd.DataFrame:
    """No signal, with every column's type (so a table created from it takes the right types)."""
    text_column = pd.array([], dtype="str")
    return pd.DataFrame({
        "symbol": text_column, "date": pd.Series(dtype="datetime64[ns]"), "strategy": text_column, "signal_type": text_column,
        **{c: pd.Series(dtype="float64") for c in ("confidence", "entry_price", "target_price", "stop_loss")},
        "validity_days": pd.Series(dtype="int64"), "reason": text_column, "indicators": indicator_map({}, 0),
    })[SIGNAL_COLUMNS]


class Rows:
    """The firing rows of the panel, read column by column (no copy of the whole panel); ``extra``
    holds a strategy's own full-length columns (levels, windowed measures) by name."""

    def __init__(self, panel: pd.DataFrame, positions: np.ndarray, extra: Mapping[str, object] | None = None):
        self.panel, self.positions, self.extra = panel, positions, dict(extra or {})

    def __getitem__(self, column: str) -> pd.Series:
        values = self.extra[column] if column in self.extra else self.panel[column]
        if not isinstance(values, pd.Series):
            return pd.Series(np.asarray(values)[self.positions])
        if pd.api.types.is_numeric_dtype(values.dtype):
            return pd.Series(values.to_numpy()[self.positions])
        return values.iloc[self.positions].reset_index(drop=True)  # strings/categories: take only these rows


def make_signals(
    panel: pd.DataFrame,
    mask: np.ndarray,
    strategy: str,
    signal_type: str | np.ndarray,
    confidence: pd.Series | np.ndarray,
    target: pd.Series | np.ndarray,
    stop: pd.Series | np.ndarray,
    validity_days: int,
    reason: Callable[[Rows], pa.Array],
    indicator_columns: Sequence[str],
    extra: Mapping[str, object] | None = None,
) -> pd.DataFrame:
    """The signals frame for the rows of ``panel`` where ``mask`` holds.

    Entry is D's close. ``reason`` builds the short text from the firing rows only; ``indicators``
    holds the values the rule used, one map per row, read from the panel or from ``extra``.
    """
    positions = np.flatnonzero(mask)
    rows = Rows(panel, positions, extra)
    pick = lambda values: np.asarray(values, dtype="float64")[positions]  # noqa: E731
    kind = signal_type if isinstance(signal_type, str) else np.asarray(signal_type)[positions]
    return pd.DataFrame(
        {
            "symbol": np.asarray(panel["symbol"].cat.categories)[panel["symbol"].cat.codes.to_numpy()[positions]].astype(str),
            "date": panel["date"].to_numpy()[positions],
            "strategy": strategy,
            "signal_type": kind,
            "confidence": pick(confidence),
            "entry_price": pick(panel["close"]),
            "target_price": pick(target),
            "stop_loss": pick(stop),
            "validity_days": validity_days,
            "reason": pd.arrays.ArrowStringArray(reason(rows)) if len(positions) else pd.array([], dtype="str"),
            "indicators": indicator_map({c: rows[c].to_numpy() for c in indicator_columns}, len(positions)),
        },
        columns=SIGNAL_COLUMNS,
    )
