"""The Python API users of the system we replace already call, over the same queries as the REST API.

    from emergent_pipeline.api import MLEnhancedSignalEngine
    engine = MLEnhancedSignalEngine(enable_ml=True)
    signals = engine.generate_ml_enhanced_signals(shariah_only=True, max_symbols=50, min_ml_probability=0.6)
    engine.get_market_context()
    engine.get_ml_performance_summary()

It reads what the pipeline stored (the serving snapshot); it never recomputes the pipeline.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import pandas as pd

from emergent_pipeline.api import queries
from emergent_pipeline.core.market_context import REGIME_MEANING, MarketContextParams, trend_strength, volatility_level
from emergent_pipeline.core.monitoring import MAX_MODEL_AGE_DAYS, model_age_days
from emergent_pipeline.core.recommendations import NOT_RECOMMENDED, RECOMMENDED_PORTFOLIO, SKIP
from emergent_pipeline.core.tearsheet import TEARSHEET_COLUMNS
from emergent_pipeline.core.score_record import RECORD_COLUMNS, band_records, known_on, probability_band, record_sentence
from emergent_pipeline.core.shariah import STATUSES, admitted_statuses, screening_policy
from emergent_pipeline.core.sizing import kelly_size
from emergent_pipeline.paths import default_tracking_uri
from emergent_pipeline.status import registry_aliases

LOG = logging.getLogger(__name__)
STATEMENTS_REMEDY = ("give the source a statements file (price_source fundamentals_path, with fundamentals_column_map) or use the "
                     "yfinance source, which fetches them")
DAYS_SHAPED = 16
"""Days whose live signals are kept shaped (per snapshot): a front end paging through recent days
reuses them instead of shaping each day again on every request."""
ML_FIELDS = ("ml_probability", "expected_return", "ml_recommendation", "ml_quality_score", "confidence_adjustment", "model_recommendation",
             "recommendation_basis", "probability_earned", "expected_return_earned", "feature_distance", "out_of_distribution")
SIGNAL_FIELDS = [
    "symbol", "date", "signal_type", "consensus_confidence", "agreement", "supporters", "strategies", "entry_price",
    "target_price", "stop_loss", "validity_days", "composite_score", "quality_tier", "shariah_status",
    "ml_probability", "expected_return", "ml_recommendation", "ml_quality_score", "confidence_adjustment", "model_version",
    "issued_on", "ml_status", "ml_reason", "model_recommendation", "recommendation_basis", "probability_earned",
    "expected_return_earned", "feature_distance", "out_of_distribution", "model_label_end",
]


SCORE_CONTEXT = ["position_size", "model_age_days", "score_stale", "probability_band"]
"""What the engine adds to each live signal's score, from the whole day's rows at once (``score_context``)."""


def score_context(frame: pd.DataFrame, day: pd.Timestamp) -> pd.DataFrame:
    """The live signals with :data:`SCORE_CONTEXT`: the fractional-Kelly size (``core.sizing``), only
    while the probability has earned its place (a score issued before the rule counts as earned:
    sizing rests on the probability); the age of the scoring model and whether it is past its limit
    (``core.monitoring``); the probability's band (``core.score_record``). Missing where unscored."""
    probability = frame["ml_probability"].astype("float64")
    suspended = frame["probability_earned"].eq(False).fillna(False).to_numpy(dtype=bool)  # unknown (before the rule): not suspended
    size = kelly_size(probability, frame["entry_price"], frame["target_price"], frame["stop_loss"])
    age = model_age_days(day, frame["model_label_end"].where(probability.notna()))
    return frame.assign(
        position_size=np.where(suspended, np.nan, size), model_age_days=age,
        score_stale=pd.array(np.where(np.isnan(age), None, age > MAX_MODEL_AGE_DAYS), dtype="boolean"),
        probability_band=probability_band(probability.to_numpy()).astype(object).to_numpy(),
    )


def clean(value: Any) -> Any:
    """JSON-friendly scalars: no NaN, dates as ISO strings, numpy numbers as Python ones."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    if isinstance(value, np.generic):
        return clean(value.item())
    return value


def records(frame: pd.DataFrame, fields: list[str]) -> list[dict]:
    """Rows as JSON-friendly dicts (NaN → None, dates → ISO days), through pandas' C JSON writer."""
    present = [f for f in fields if f in frame.columns]
    shown = frame[present].copy()
    for column in shown.columns:
        if pd.api.types.is_datetime64_any_dtype(shown[column]):
            shown[column] = shown[column].dt.strftime("%Y-%m-%d")
    return json.loads(shown.to_json(orient="records", double_precision=10)) if len(shown) else []


@dataclass
class Selection:
    """The answer to a request: the signals, and what the filters did, in numbers and words."""

    signals: list[dict]
    day: pd.Timestamp
    live: int
    """Signals live on the day before any of the request's filters."""
    shariah: dict = field(default_factory=dict)
    note: str | None = None
    """Why the answer is empty (None when it is not)."""
    unknown_symbols: list[str] = field(default_factory=list)
    """Requested symbols the stored universe does not have."""
    recommended_filter: dict[str, str] = field(default_factory=dict)
    """The performance summary's current verdict on the recommended signals, per out-of-sample record."""
    recommended_filter_known_on: str | None = None
    """The day that verdict was computed on (the snapshot's newest day): for an earlier ``as_of`` it
    counts outcomes the day asked for did not know yet."""


def take_symbols(rows: list[dict], max_symbols: int) -> list[dict]:
    """The rows of the first ``max_symbols`` distinct symbols, best first: a symbol with two live
    signals (issued on different days) counts once and keeps both."""
    chosen: set[str] = set()
    kept = []
    for row in rows:
        if row["symbol"] not in chosen:
            if len(chosen) == max_symbols:
                continue
            chosen.add(row["symbol"])
        kept.append(row)
    return kept


def filter_signals(rows: list[dict], day: pd.Timestamp, *, shariah_only: bool, admit_unknown: bool, standard: str | None,
                   max_symbols: int, symbols: list[str] | None = None, min_ml_probability: float = 0.0,
                   min_confidence: float = 0.0, confidence_field: str = "consensus_confidence", use_ml: bool = True,
                   what: str = "consensus signals", known_symbols: frozenset[str] | None = None, recommended_only: bool = False,
                   statements_usable: bool = True) -> Selection:
    """Apply a request's filters in order (symbols, Shariah policy on each signal's own day, ML
    probability, recommended only, confidence, at most ``max_symbols`` symbols) and count what each one removed."""
    live = len(rows)
    stages: list[str] = []
    wanted = {s.upper() for s in symbols or []}
    unknown = sorted(wanted - known_symbols) if known_symbols is not None else []
    if wanted:
        rows = [r for r in rows if r["symbol"] in wanted]
        stages.append(f"{len(rows)} of them for the requested symbols"
                      + (f" ({len(unknown)} not in the stored universe: {', '.join(unknown[:10])}{' …' if len(unknown) > 10 else ''})" if unknown else ""))
    admitted = admitted_statuses(shariah_only, admit_unknown)
    excluded = Counter(r.get("shariah_status") or "UNKNOWN" for r in rows if (r.get("shariah_status") or "UNKNOWN") not in admitted)
    rows = [r for r in rows if (r.get("shariah_status") or "UNKNOWN") in admitted]
    shariah = {
        "shariah_only": shariah_only, "admit_unknown": admit_unknown, "standard": standard,
        "policy": screening_policy(shariah_only, admit_unknown), "admitted_statuses": list(admitted),
        "excluded": {status: int(excluded.get(status, 0)) for status in STATUSES if status not in admitted},
    }
    if shariah_only:
        counts = ", ".join(f"{n} {status}" for status, n in shariah["excluded"].items())
        stages.append(f"the Shariah filter ({shariah['policy']}, standard {standard}) excluded {counts}"
                      + ("" if statements_usable or not shariah["excluded"].get("UNKNOWN") else
                         f" (no financial statement is usable for any symbol, so no ratio of the standard could be computed: "
                         f"{STATEMENTS_REMEDY})"))
    if use_ml and min_ml_probability > 0:
        before = len(rows)
        rows = [r for r in rows if r.get("ml_probability") is not None and r["ml_probability"] >= min_ml_probability]
        stages.append(f"min_ml_probability {min_ml_probability:g} excluded {before - len(rows)} (unscored ones included)")
    if recommended_only:
        before = len(rows)
        rows = [r for r in rows if r.get("ml_recommendation") not in NOT_RECOMMENDED]
        stages.append(f"recommended_only excluded {before - len(rows)} ({SKIP} or unscored)")
    if min_confidence > 0:
        before = len(rows)
        rows = [r for r in rows if (r.get(confidence_field) or 0.0) >= min_confidence]
        stages.append(f"min {confidence_field} {min_confidence:g} excluded {before - len(rows)}")
    rows = take_symbols(rows, max_symbols)
    note = None
    if not rows:
        note = (f"no {what} live on {day:%Y-%m-%d}" if live == 0
                else f"{live} {what} live on {day:%Y-%m-%d}; " + "; ".join(stages) + ": none left")
    return Selection(rows, day, live, shariah, note, unknown)


class SignalList(list):
    """The signals of an answer (a list of dicts), with what the filters did: ``note`` (why the list is
    empty, None when it is not), ``as_of``, ``live_signals`` (live on the day before the filters),
    ``shariah_filter`` and ``unknown_symbols``."""

    note: str | None = None
    as_of: str | None = None
    live_signals: int = 0
    recommended_filter: dict | None = None
    recommended_filter_known_on: str | None = None
    shariah_filter: dict | None = None
    unknown_symbols: list[str] | None = None


@dataclass(frozen=True)
class SnapshotFacts:
    first: pd.Timestamp
    newest: pd.Timestamp
    standard: str | None
    symbols: frozenset[str]
    statements_usable: bool = True
    """Whether the Shariah screen could use a statement for any symbol on any day (its ratios)."""
    recommended_filter: dict = field(default_factory=dict)
    """The summary's verdict on the recommended signals per record (``replay``, ``forward``)."""

    def day_of(self, as_of) -> pd.Timestamp:
        """The day a request for ``as_of`` answers for: the newest price day by default, and a later
        day clamped to it."""
        return self.newest if as_of is None else min(pd.Timestamp(as_of), self.newest)


class MLEnhancedSignalEngine:
    """Signals, market context and ML statistics from the stored pipeline results."""

    def __init__(self, enable_ml: bool = True, snapshot_path: str | None = None, admit_unknown: bool = False,
                 tracking_uri: str | None = None):
        self.enable_ml = enable_ml
        self.admit_unknown = admit_unknown
        self.reader = queries.SnapshotReader(snapshot_path)
        self.tracking_uri = tracking_uri or default_tracking_uri()
        self._shaped: OrderedDict = OrderedDict()
        self._shaping: dict = {}
        self._facts: dict = {}
        self._contexts: dict = {}
        self._lock = threading.Lock()
        self.encoded: dict[int, bytes] = {}
        """Each shaped live signal serialised once (JSON bytes by ``id`` of its dict): the REST API
        answers by joining them, without serialising hundreds of rows per request."""

    def facts(self) -> SnapshotFacts:
        """The snapshot's first and newest price days, Shariah standard and symbols, read once per
        publication (every request needs them). "Today" is the newest price day, not the newest signal
        day: after a day without a new signal, a signal whose stop broke that day is no longer live."""
        version = self.reader.snapshot().version
        facts = self._facts.get(version)
        if facts is None:
            standard, usable = None, True
            if self.reader.has_table("shariah_screen"):
                frame = self.reader.query("SELECT any_value(standard) AS standard, count(debt_ratio) > 0 AS usable FROM shariah_screen",
                                          table="shariah_screen")
                standard = None if frame.empty else clean(frame["standard"].iloc[0])
                usable = bool(frame["usable"].iloc[0]) if len(frame) else True
            first, newest = queries.date_range(self.reader, "price_history")
            facts = SnapshotFacts(
                first=first, newest=newest, standard=standard, statements_usable=usable, recommended_filter=self.recommended_verdicts(),
                symbols=frozenset(self.reader.query("SELECT DISTINCT symbol FROM price_history", table="price_history")["symbol"]),
            )
            self._facts = {version: facts}
        return facts

    def resolve_as_of(self, as_of: str | pd.Timestamp | None) -> pd.Timestamp:
        """The requested day, or the newest stored one; a day before the data starts is an error."""
        facts = self.facts()
        if as_of is not None and pd.Timestamp(as_of) < facts.first:
            raise queries.OutOfRangeError(f"as_of {pd.Timestamp(as_of):%Y-%m-%d} is before the first stored day {facts.first:%Y-%m-%d}")
        return facts.day_of(as_of)

    def live_records(self, day: pd.Timestamp) -> list[dict]:
        """Every signal live on ``day`` as response-ready dicts, best first, built once per snapshot
        and day (the last :data:`DAYS_SHAPED` days asked for are kept): a request then only filters
        and slices a list (no DataFrame work per request). Requests that arrive together for a day not
        yet shaped wait for one of them to shape it, rather than each shaping it again."""
        version = self.reader.snapshot().version
        key = (version, day, self.enable_ml)
        with self._lock:
            cached = self._shaped.get(key)
            if cached is not None:
                self._shaped.move_to_end(key)
                return cached
            shaping = self._shaping.setdefault(key, threading.Lock())
        try:
            with shaping:
                with self._lock:
                    cached = self._shaped.get(key)
                if cached is None:
                    cached = self._shape(day)
                    with self._lock:
                        self._keep(key, cached)
        finally:
            with self._lock:
                self._shaping.pop(key, None)
        return cached

    def _shape(self, day: pd.Timestamp) -> list[dict]:
        context = self._context_on(day)
        shaped = records(score_context(queries.live_signals(self.reader, day), day), SIGNAL_FIELDS + SCORE_CONTEXT)
        by_band = self.probability_records(day) if self.enable_ml else {}
        for signal in shaped:
            signal["market_context"] = context
            if not self.enable_ml:
                signal.update(dict.fromkeys(ML_FIELDS + tuple(SCORE_CONTEXT)))
            band = signal.pop("probability_band")
            signal["probability_record"] = by_band[band] if band is not None else None
        return shaped

    def probability_records(self, day: pd.Timestamp) -> dict[str, dict]:
        """Per probability band, its as-issued record as known at ``day``'s close (outcomes resolved by
        then, :mod:`core.score_record`), ready to sit beside each signal scored in that band."""
        trades = known_on(queries.scored_outcomes(self.reader), day) if self.reader.has_table("signal_outcomes") else pd.DataFrame()
        table = band_records(trades) if len(trades) else pd.DataFrame()
        shaped = {}
        for band in probability_band([]).cat.categories:
            if band in table.index:
                row = table.loc[band]
                shaped[band] = {"probability": band, **{k: clean(v) for k, v in row.items()}, "known_on": f"{day:%Y-%m-%d}",
                                "summary": record_sentence(band, row)}
            else:
                shaped[band] = {"probability": band, "signals": 0, "known_on": f"{day:%Y-%m-%d}",
                                "summary": f"no signal issued at {band} had resolved by {day:%Y-%m-%d}"}
        return shaped

    def recommended_verdicts(self) -> dict[str, str]:
        """The performance summary's verdict on the recommended signals, per out-of-sample record."""
        summary = self.table_or_empty("performance_summary")
        if summary.empty:
            return {}
        headline = summary[(summary["year"] == "all") & (summary["portfolio"] == RECOMMENDED_PORTFOLIO)]
        return dict(zip(headline["record"], headline["verdict"]))

    def _keep(self, key, shaped: list[dict]) -> None:
        """Keep a shaped day, each row serialised once; an earlier publication's days and the least
        recently asked beyond :data:`DAYS_SHAPED` are dropped. Called under ``_lock``."""
        for old in [k for k in self._shaped if k[0] != key[0] or k == key]:  # a day shaped twice keeps one copy
            self._forget(old)
        self._shaped[key] = shaped
        self.encoded.update({id(signal): orjson.dumps(signal, option=orjson.OPT_SERIALIZE_NUMPY) for signal in shaped})
        while len(self._shaped) > DAYS_SHAPED:
            self._forget(next(iter(self._shaped)))

    def _forget(self, key) -> None:
        for signal in self._shaped.pop(key):
            self.encoded.pop(id(signal), None)

    def has_shaped(self, as_of) -> bool:
        """Whether the live signals a request for ``as_of`` needs are already shaped for the current
        snapshot: only then is answering it pure in-memory work."""
        try:
            version = self.reader.snapshot().version
        except queries.NoDataError:
            return False
        facts = self._facts.get(version)
        if facts is None:
            return False
        day = facts.day_of(as_of)
        return day >= facts.first and (version, day, self.enable_ml) in self._shaped

    def known_symbols(self) -> frozenset[str]:
        """Every symbol the snapshot has prices for."""
        return self.facts().symbols

    def shariah_standard(self) -> str | None:
        """The standard the stored screen used."""
        return self.facts().standard

    def select(
        self, shariah_only: bool = False, max_symbols: int = 50, symbols: list[str] | None = None, as_of=None,
        min_ml_probability: float = 0.0, min_consensus_confidence: float = 0.0, admit_unknown: bool | None = None,
        recommended_only: bool = False,
    ) -> Selection:
        """The consensus signals live on the day that pass the request's filters, best first, of at
        most ``max_symbols`` distinct symbols, with what each filter removed. A day before the stored
        data has none, and the answer says so."""
        with self.reader.pinned():
            try:
                day, rows, before = self.resolve_as_of(as_of), None, None
            except queries.OutOfRangeError as error:
                day, rows, before = pd.Timestamp(as_of), [], str(error)
            selection = filter_signals(
                self.live_records(day) if rows is None else rows, day, shariah_only=shariah_only,
                admit_unknown=self.admit_unknown if admit_unknown is None else admit_unknown, standard=self.shariah_standard(),
                max_symbols=max_symbols, symbols=symbols, min_ml_probability=min_ml_probability,
                min_confidence=min_consensus_confidence, use_ml=self.enable_ml, known_symbols=self.known_symbols() if symbols else None,
                recommended_only=recommended_only, statements_usable=self.facts().statements_usable,
            )
        if before:
            selection.note = f"{before}: no signal"
        selection.recommended_filter = self.facts().recommended_filter if self.enable_ml else {}
        selection.recommended_filter_known_on = f"{self.facts().newest:%Y-%m-%d}" if selection.recommended_filter else None
        return selection

    def generate_ml_enhanced_signals(
        self, shariah_only: bool = False, max_symbols: int = 50, min_ml_probability: float = 0.0,
        symbols: list[str] | None = None, as_of: str | None = None, admit_unknown: bool | None = None, recommended_only: bool = False,
    ) -> "SignalList":
        """The consensus signals live on ``as_of`` (default: the newest stored day), best first, of at
        most ``max_symbols`` distinct symbols: a list of dicts, as the guide's loop reads them, that also
        says what the filters did (``note``, ``as_of``, ``live_signals``, ``shariah_filter``). An empty
        answer logs its reason as a warning, so the guide's snippet, which prints nothing for no
        signal, does not leave its reader guessing."""
        selection = self.select(shariah_only, max_symbols, symbols, as_of, min_ml_probability=min_ml_probability,
                                admit_unknown=admit_unknown, recommended_only=recommended_only)
        answer = SignalList(copy.deepcopy(selection.signals))  # the shaped rows are shared by every request: the caller gets its own
        answer.note, answer.as_of, answer.live_signals = selection.note, f"{selection.day:%Y-%m-%d}", selection.live
        answer.shariah_filter, answer.unknown_symbols = selection.shariah, selection.unknown_symbols
        answer.recommended_filter, answer.recommended_filter_known_on = selection.recommended_filter, selection.recommended_filter_known_on
        if not answer:
            LOG.warning("no signal: %s", selection.note)
        return answer

    def ml_statistics(self, signals: list[dict]) -> dict:
        """The guide's statistics over a set of returned signals (the filter policy is reported
        beside them, in the response's ``shariah_filter``)."""
        scored = [s for s in signals if s.get("ml_status") == "scored" and s.get("ml_probability") is not None]
        return {
            "ml_enhancement_rate": 100.0 * len(scored) / len(signals) if signals else 0.0,
            "average_ml_probability": sum(s["ml_probability"] for s in scored) / len(scored) if scored else None,
            "average_confidence_adjustment": sum(s["confidence_adjustment"] for s in scored) / len(scored) if scored else None,
            "recommendation_distribution": dict(Counter(s["ml_recommendation"] for s in scored)),
            "quality_distribution": dict(Counter(s["ml_quality_score"] for s in scored)),
        }

    def _context_table(self) -> tuple[np.ndarray, list[dict]]:
        """Every stored day's market context with its interpretation, in date order, built once per
        snapshot (vectorised): a request for any day is then a binary search."""
        version = self.reader.snapshot().version
        cached = self._contexts.get(version)
        if cached is None:
            frame = self.reader.query("SELECT date, regime, volatility, trend_20d, above_sma_50, above_sma_200 FROM market_context ORDER BY date",
                                      table="market_context")
            if frame.empty:
                raise queries.NoDataError("market_context is empty; run the daily_refresh job")
            params = MarketContextParams()
            meaning = pd.DataFrame({"regime": frame["regime"].map(REGIME_MEANING).fillna(""),
                                    "volatility": volatility_level(frame["volatility"], params),
                                    "trend": trend_strength(frame["trend_20d"], params)})
            contexts = records(frame, list(frame.columns))
            index = self.market_index()
            for context, interpretation in zip(contexts, records(meaning, list(meaning.columns))):
                context["index"] = index
                context["interpretation"] = interpretation
            cached = (frame["date"].to_numpy(dtype="datetime64[ns]"), contexts)
            self._contexts = {version: cached}
        return cached

    def market_index(self) -> str | None:
        """The index the market context is read from, as the snapshot's manifest names it (None in a
        snapshot published before the manifest named it)."""
        manifest = self.table_or_empty("snapshot_manifest")
        return clean(manifest["market_index"].iloc[0]) if "market_index" in manifest and len(manifest) else None

    def has_contexts(self) -> bool:
        """Whether the current snapshot's market contexts are built (answering is then in-memory work)."""
        try:
            return self.reader.snapshot().version in self._contexts
        except queries.NoDataError:
            return False

    def _context_on(self, as_of: str | pd.Timestamp | None = None) -> dict:
        """The market context of ``as_of`` (its newest day on or before it; default the newest), shared."""
        dates, contexts = self._context_table()
        if as_of is None:
            return contexts[-1]
        position = int(np.searchsorted(dates, np.datetime64(pd.Timestamp(as_of), "ns"), side="right")) - 1
        if position < 0:
            raise queries.NoDataError(f"market_context has no day on or before {pd.Timestamp(as_of):%Y-%m-%d}")
        return contexts[position]

    def get_market_context(self, as_of: str | pd.Timestamp | None = None) -> dict:
        """The market context of ``as_of`` (default: the newest day), with its interpretation."""
        return copy.deepcopy(self._context_on(as_of))

    def strategy_weights(self) -> dict[str, float]:
        """The consensus weight of each strategy in the stored signals: the newest one its votes carry
        (a run may have set other weights than the defaults)."""
        frame = self.table_or_empty("consensus_breakdown", "SELECT strategy, arg_max(weight, date) AS weight FROM consensus_breakdown GROUP BY 1")
        return dict(zip(frame["strategy"], frame["weight"].astype(float))) if len(frame) else {}

    def table_or_empty(self, table: str, sql: str | None = None) -> pd.DataFrame:
        return self.reader.query(sql or f"SELECT * FROM {table}", table=table) if self.reader.has_table(table) else pd.DataFrame()

    def get_ml_performance_summary(self) -> dict:
        """Out-of-sample performance as the pipeline measured it from the as-issued record (the
        replay over history and the serving model's forward record), the verdict in words ("no
        proven edge" where the interval includes zero), calibration, what a probability has meant,
        the serving model's promotion hold-out, and the guide's ML statistics of the issued scores;
        and whether those figures are the current champion's (``figures_current``)."""
        with self.reader.pinned():
            figures = self._performance_figures()
            manifest = self.table_or_empty("snapshot_manifest")
        serving = clean(manifest["model_version"].iloc[0]) if len(manifest) else None
        champion = registry_aliases(self.tracking_uri)["champion"]
        current = champion is not None and serving == champion
        note = figures.pop("note")
        if not current:
            note = (f"not the current champion's figures: they describe model {serving or 'none'} and the champion is "
                    f"{champion or 'not set'}; run the rescore_signals job (or train_signal_model) to bring them in step. ") + note
        return {"figures_model_version": serving, "champion_version": champion, "figures_current": current, **figures, "note": note}

    def _performance_figures(self) -> dict:
        summary = self.table_or_empty("performance_summary")
        signals = self.reader.query(
            "SELECT count(*) n, count(*) FILTER (ml_status = 'scored') scored, avg(ml_probability) p, avg(confidence_adjustment) a FROM signal_outcomes",
            table="signal_outcomes",
        ).iloc[0]
        recommendations = self.reader.query(
            "SELECT ml_recommendation r, count(*) n FROM signal_outcomes WHERE ml_status = 'scored' GROUP BY 1", table="signal_outcomes"
        )
        quality = self.reader.query(
            "SELECT ml_quality_score q, count(*) n FROM signal_outcomes WHERE ml_status = 'scored' GROUP BY 1", table="signal_outcomes"
        )
        verdicts = self.recommended_verdicts()
        return {
            "ml_enhancement_rate": 100.0 * float(signals["scored"]) / float(signals["n"]) if signals["n"] else 0.0,
            "average_ml_probability": clean(signals["p"]),
            "average_confidence_adjustment": clean(signals["a"]),
            "recommendation_distribution": dict(zip(recommendations["r"], recommendations["n"].astype(int).tolist())),
            "quality_distribution": dict(zip(quality["q"], quality["n"].astype(int).tolist())),
            "verdict": verdicts or {"none": "not computed: no as-issued score yet"},
            "out_of_sample": records(summary, list(summary.columns)) if len(summary) else [],
            "calibration": records(self.table_or_empty("performance_calibration"), ["record", "year", "signals", "success_rate", "mean_probability", "ece"]),
            "score_meaning": records(self.table_or_empty("performance_meaning"), ["record", "probability", *RECORD_COLUMNS]),
            "tearsheet": records(self.table_or_empty("performance_tearsheet"), ["record", "portfolio", "trades", *TEARSHEET_COLUMNS]),
            "signal_ic": records(ic := self.table_or_empty("performance_ic"), list(ic.columns)),
            "quantile_groups": records(self.table_or_empty("performance_quantiles"),
                                       ["record", "score", "quantile", "score_low", "score_high", *RECORD_COLUMNS]),
            "promotion_holdout": records(self.table_or_empty("performance_holdout"), ["model_version", "holdout_start", "holdout_end", "count", "roc_auc", "brier", "brier_base_rate", "ece"]),
            "note": ("as-issued scores only: each signal's score was issued on its own day by a model whose training labels had all "
                     "ended before it; 'no proven edge' where the 95 % day-block bootstrap interval includes zero; a universe that is "
                     "a later membership list (the bundled S&P 500 of 2018 is one) leaves out the companies that failed, and "
                     "flatters every figure"),
        }
