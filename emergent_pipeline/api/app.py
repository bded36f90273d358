"""The REST API: the guide's endpoints over the serving snapshot (it never recomputes the pipeline).

Start it with ``emergent-pipeline serve`` (127.0.0.1:8000 by default). ``/health`` says the process
is up; ``/health/ready`` says whether it can serve (a readable snapshot and a loadable champion).
"""

from __future__ import annotations

import os
import time
from contextlib import asynccontextmanager, nullcontext
from datetime import datetime, timezone

import orjson
import pandas as pd
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from emergent_pipeline.api import queries
from emergent_pipeline.api.champion import ChampionUnavailable, ServedChampion
from emergent_pipeline.api.engine import MLEnhancedSignalEngine, Selection, clean, filter_signals, records
from emergent_pipeline.api.models import (
    ErrorResponse, GenerateRequest, HealthResponse, MarketContextModel, MLEnhancedRequest, MLTestResponse, PerformanceResponse,
    ReadinessResponse, SignalsResponse, StatusResponse, StrategiesResponse,
)
from emergent_pipeline.core.consensus import DEFAULT_WEIGHTS
from emergent_pipeline.core.features import FEATURES
from emergent_pipeline.core.strategies.registry import STRATEGY_NAMES, resolve_params
from emergent_pipeline.model_registry import ModelStore, default_artifact_root, default_tracking_uri
from emergent_pipeline.paths import dagster_home
from emergent_pipeline.status import status_report

CORS_ENV = "EMERGENT_PIPELINE_CORS_ORIGINS"
MAX_BODY_ENV = "EMERGENT_PIPELINE_MAX_BODY_BYTES"
MAX_BODY_BYTES = 64 * 1024
"""The largest request body accepted: the biggest valid request (500 tickers) is about 10 KB."""
QUOTED = 40
"""At most this many characters of a client's input are quoted back in an error message."""
DATA_ERRORS = {422: {"model": ErrorResponse}, 503: {"model": ErrorResponse}}
BODY_ERRORS = {**DATA_ERRORS, 400: {"model": ErrorResponse}, 413: {"model": ErrorResponse}}
SIGNAL_FIELDS_SHOWN = ["symbol", "date", "strategy", "signal_type", "confidence", "entry_price", "target_price", "stop_loss",
                       "validity_days", "reason", "shariah_status"]


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def quoted(value: object, limit: int = QUOTED) -> str:
    """A client's input as an error message may show it: its first ``limit`` characters."""
    text = str(value)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def error(status: int, detail: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"success": False, "detail": detail})


class BodyLimit:
    """Refuse a request body larger than ``max_bytes`` (413) before anything reads it whole."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            return await self.refuse(scope, receive, send)
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > self.max_bytes:
                return await self.refuse(scope, receive, send)
        body, sent = b"".join(chunks), False

        async def replay():
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        return await self.app(scope, replay, send)

    async def refuse(self, scope, receive, send):
        await error(413, f"request body larger than {self.max_bytes} bytes")(scope, receive, send)


class PinSnapshot:
    """Hold one snapshot for the whole request: every query of an answer reads the same publication."""

    def __init__(self, app, reader: queries.SnapshotReader):
        self.app, self.reader = app, reader

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        try:
            pin = self.reader.pinned()
            pin.__enter__()
        except queries.NoDataError:
            pin = nullcontext()  # the endpoint reports it (503 with the reason)
        try:
            await self.app(scope, receive, send)
        finally:
            pin.__exit__(None, None, None)


def cors_origins(configured: list[str] | None) -> list[str]:
    """Origins allowed to call from a browser: as configured, else ``$EMERGENT_PIPELINE_CORS_ORIGINS``
    (comma-separated); none by default."""
    if configured is not None:
        return configured
    return [o.strip() for o in os.environ.get(CORS_ENV, "").split(",") if o.strip()]


def body_limit(configured: int | None) -> int:
    """The body limit in bytes: as configured, else ``$EMERGENT_PIPELINE_MAX_BODY_BYTES``, else 64 KiB."""
    return configured or int(os.environ.get(MAX_BODY_ENV) or MAX_BODY_BYTES)


def create_app(snapshot_path: str | None = None, tracking_uri: str | None = None, cors: list[str] | None = None,
               max_body_bytes: int | None = None) -> FastAPI:
    tracking_uri = tracking_uri or default_tracking_uri()
    engine = MLEnhancedSignalEngine(enable_ml=True, snapshot_path=snapshot_path, tracking_uri=tracking_uri)
    champion = ServedChampion(ModelStore(tracking_uri, default_artifact_root()))

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        # The champion is loaded before the first request (not by it), and the newest day's signals shaped.
        await run_in_threadpool(champion.preload)
        try:
            await run_in_threadpool(engine.select)
        except queries.NoDataError:
            pass
        yield

    app = FastAPI(title="emergent-pipeline", version="0.1.0", description=__doc__, lifespan=lifespan)
    app.add_middleware(PinSnapshot, reader=engine.reader)
    app.add_middleware(BodyLimit, max_bytes=body_limit(max_body_bytes))
    origins = cors_origins(cors)
    if origins:
        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=["GET", "POST"], allow_headers=["Content-Type"])

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, failure: RequestValidationError) -> JSONResponse:
        reasons = "; ".join(
            f"{'.'.join(quoted(p, 30) for p in e['loc'] if p != 'body') or 'body'}: {quoted(e['msg'], 200)}" for e in failure.errors()[:10])
        return error(422, f"invalid request: {reasons}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, failure: StarletteHTTPException) -> JSONResponse:
        # FastAPI's own refusals (a body that is not JSON: 400; a wrong method: 405) in the API's shape.
        response = error(failure.status_code, quoted(failure.detail, 200))
        response.headers.update(failure.headers or {})
        return response

    @app.exception_handler(queries.OutOfRangeError)
    async def out_of_range(_: Request, failure: queries.OutOfRangeError) -> JSONResponse:
        return error(422, str(failure))

    @app.exception_handler(queries.NoDataError)
    async def no_data(_: Request, failure: queries.NoDataError) -> JSONResponse:
        return error(503, str(failure))

    @app.exception_handler(Exception)
    async def unexpected(_: Request, failure: Exception) -> JSONResponse:
        # The server log has the traceback; the client gets the kind of error, no paths, no internals.
        return error(500, f"internal error ({type(failure).__name__}); the server log has the details")

    def envelope(selection: Selection, statistics: dict, threshold: float, strategy: str | None = None) -> dict:
        """The response body but its signals: the guide's fields, and what the filters did."""
        return {
            "success": True, "signals_count": len(selection.signals), "signals": None, "ml_statistics": statistics,
            "filter_threshold": threshold, "generated_at": now(), "as_of": str(selection.day.date()),
            "strategy": strategy, "live_signals": selection.live, "shariah_filter": selection.shariah, "note": selection.note,
            "unknown_symbols": selection.unknown_symbols,
        }

    def signals_body(selection: Selection, statistics: dict, threshold: float, strategy: str | None = None) -> Response:
        """JSON of the answer, its signals joined from their pre-serialised bytes (see the engine)."""
        rows = b",".join(engine.encoded.get(id(s)) or orjson.dumps(s) for s in selection.signals)
        head = orjson.dumps(envelope(selection, statistics, threshold, strategy))
        return Response(head.replace(b'"signals":null', b'"signals":[' + rows + b"]", 1), media_type="application/json")

    @app.post("/signals/ml-enhanced", response_model=SignalsResponse, responses=BODY_ERRORS)
    async def ml_enhanced(request: MLEnhancedRequest | None = None) -> Response:
        """Consensus signals live on the day, scored by the champion model, best first (no body: the defaults)."""
        request = request or MLEnhancedRequest()

        def build() -> Response:
            selection = engine.select(
                request.shariah_only, request.max_symbols, request.symbols, request.as_of,
                min_ml_probability=request.min_ml_probability, admit_unknown=request.admit_unknown,
            )
            return signals_body(selection, engine.ml_statistics(selection.signals), request.min_ml_probability)

        # With the day's signals already shaped, an answer is a filter and a join (well under a
        # millisecond): done here, without a hop to a worker thread. Otherwise the queries run there.
        return build() if engine.has_shaped(request.as_of) else await run_in_threadpool(build)

    @app.post("/signals/generate", response_model=SignalsResponse, responses=BODY_ERRORS)
    def generate(request: GenerateRequest | None = None) -> Response:
        """One strategy's signals of the day, or the consensus (``ml_consensus``: with the ML filter)."""
        request = request or GenerateRequest()
        if request.strategy in STRATEGY_NAMES:
            try:
                day = engine.resolve_as_of(request.as_of)
                frame = records(queries.strategy_signals_on(engine.reader, request.strategy, day), SIGNAL_FIELDS_SHOWN)
                before = None
            except queries.OutOfRangeError as failure:
                day, frame, before = pd.Timestamp(request.as_of), [], f"{failure}: no signal"
            selection = filter_signals(
                frame, day, shariah_only=request.shariah_only, admit_unknown=request.admit_unknown,
                standard=engine.shariah_standard(), max_symbols=request.max_symbols, symbols=request.symbols,
                min_confidence=request.min_confidence, confidence_field="confidence", use_ml=False, what=f"{request.strategy} signals",
                known_symbols=engine.known_symbols() if request.symbols else None,
            )
            selection.note = before or selection.note
            return signals_body(selection, {}, request.min_confidence, request.strategy)
        use_ml = request.strategy == "ml_consensus" or request.enable_ml_filter
        threshold = {"min_ml_probability" if use_ml else "min_consensus_confidence": request.min_confidence}
        selection = engine.select(request.shariah_only, request.max_symbols, request.symbols, request.as_of,
                                  admit_unknown=request.admit_unknown, **threshold)
        return signals_body(selection, engine.ml_statistics(selection.signals), request.min_confidence, request.strategy)

    @app.get("/market/context", response_model=MarketContextModel, responses=DATA_ERRORS)
    def market_context() -> dict:
        """The newest market context, with what it means."""
        return engine.get_market_context()

    @app.get("/ml/performance", response_model=PerformanceResponse, responses=DATA_ERRORS)
    def ml_performance() -> dict:
        """Out-of-sample performance and the ML statistics, as the pipeline measured them, and whether
        they are the current champion's."""
        return {"success": True, **engine.get_ml_performance_summary()}

    @app.get("/ml/test", response_model=MLTestResponse, responses=DATA_ERRORS)
    def ml_test():
        """Scores one stored signal with the champion as it is now: latency and model version; 503
        with the reason when the champion cannot be loaded."""
        try:
            loaded = champion.current()
        except ChampionUnavailable as failure:
            return error(503, str(failure))
        features = engine.reader.query("SELECT * FROM signal_features ORDER BY date DESC LIMIT 1", table="signal_features")
        start = time.perf_counter()
        try:
            probability = float(loaded.model.predict_proba(features[loaded.features])[:, 1][0])
        except Exception as failure:  # noqa: BLE001 - a model that loads but cannot score is as unavailable
            return error(503, f"champion version {loaded.version} cannot score a stored signal ({type(failure).__name__})")
        latency = time.perf_counter() - start
        return {
            "success": True, "model_version": loaded.version, "symbol": features["symbol"].iloc[0],
            "date": clean(features["date"].iloc[0]), "ml_probability": probability,
            "latency_ms": round(latency * 1000, 3), "model_load_ms": round(loaded.load_seconds * 1000, 3),
        }

    @app.get("/system/status", response_model=StatusResponse)
    def system_status() -> dict:
        """The guide's ``system_status`` (data, ``ml_status``, pipeline), recent runs and failures read
        from the Dagster instance itself, and the model versions."""
        try:
            champion.current()
        except ChampionUnavailable:
            pass
        served = {"loaded_version": champion.loaded.version if champion.loaded else None, "error": champion.error}
        failures = engine.table_or_empty("run_failures", "SELECT * FROM run_failures ORDER BY failed_at DESC LIMIT 10")
        recorded = [{"run_id": f["run_id"], "job": f["job_name"], "status": "FAILURE", "ended_at": f["failed_at"], "failure": f["message"]}
                    for f in records(failures, list(failures.columns))]
        return status_report(engine.reader.path, tracking_uri, dagster_home(), served=served, run_failures=recorded)

    @app.get("/health", response_model=HealthResponse)
    def health() -> dict:
        """Liveness: the process answers. Whether it can serve is ``/health/ready``."""
        return {"status": "ok", "snapshot": engine.reader.has_table("signal_outcomes")}

    @app.get("/health/ready", response_model=ReadinessResponse, responses={503: {"model": ReadinessResponse}})
    def ready():
        """Readiness: 200 when a complete snapshot and a loadable champion are there, else 503 with the reasons."""
        reasons = engine.reader.readiness()
        try:
            version = champion.current().version
        except ChampionUnavailable as failure:
            version = None
            reasons.append(str(failure))
        newest = None
        if not reasons:
            newest = clean(engine.reader.query("SELECT max(date) AS d FROM price_history", table="price_history")["d"].iloc[0])
        body = {"status": "not ready" if reasons else "ready", "champion_version": version, "newest_price_date": newest, "reasons": reasons}
        return JSONResponse(status_code=503 if reasons else 200, content=body)

    @app.get("/strategies", response_model=StrategiesResponse)
    def strategies() -> dict:
        """The ten strategies, their consensus weights and parameters, and the feature list of the model."""
        params = resolve_params()
        return {
            "strategies": [{"name": n, "weight": DEFAULT_WEIGHTS[n], "parameters": vars(params[n])} for n in STRATEGY_NAMES],
            "special": ["consensus", "ml_consensus"],
            "model_features": FEATURES,
        }

    return app
