"""The REST API's endpoints, by domain, over the engine (the serving snapshot) and the served champion.

Each router is built for one app's services; ``create_app`` mounts every router at the root and
again under ``/api``, where the guide's web front end calls them (``fetch('/api/signals/ml-enhanced')``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone

import orjson
import pandas as pd
from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from emergent_pipeline.api import queries
from emergent_pipeline.api.champion import PROBE_SECONDS, ChampionUnavailable, ServedChampion
from emergent_pipeline.api.engine import MLEnhancedSignalEngine, Selection, clean, filter_signals, records
from emergent_pipeline.api.middleware import error
from emergent_pipeline.api.models import (
    ErrorResponse, GenerateRequest, HealthResponse, MarketContextModel, MLEnhancedRequest, MLTestResponse, PerformanceResponse,
    ReadinessResponse, SignalsResponse, StatusResponse, StrategiesResponse,
)
from emergent_pipeline.core.features import FEATURES
from emergent_pipeline.core.strategies.registry import DEFAULT_WEIGHTS, STRATEGY_NAMES, resolve_params
from emergent_pipeline.paths import dagster_home
from emergent_pipeline.status import status_report

DATA_ERRORS = {422: {"model": ErrorResponse}, 503: {"model": ErrorResponse}}
BODY_ERRORS = {**DATA_ERRORS, 400: {"model": ErrorResponse}, 408: {"model": ErrorResponse}, 413: {"model": ErrorResponse}}
SIGNAL_FIELDS_SHOWN = ["symbol", "date", "strategy", "signal_type", "confidence", "entry_price", "target_price", "stop_loss",
                       "validity_days", "reason", "shariah_status"]


@dataclass(frozen=True)
class Services:
    engine: MLEnhancedSignalEngine
    champion: ServedChampion
    tracking_uri: str


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def signals_router(services: Services) -> APIRouter:
    engine = services.engine
    router = APIRouter(tags=["signals"])

    def envelope(selection: Selection, statistics: dict, threshold: float, strategy: str | None = None) -> dict:
        """The response body but its signals: the guide's fields, and what the filters did."""
        return {
            "success": True, "signals_count": len(selection.signals), "signals": None, "ml_statistics": statistics,
            "filter_threshold": threshold, "generated_at": now(), "as_of": str(selection.day.date()),
            "strategy": strategy, "live_signals": selection.live, "shariah_filter": selection.shariah, "note": selection.note,
            "unknown_symbols": selection.unknown_symbols, "recommended_filter": selection.recommended_filter,
            "recommended_filter_known_on": selection.recommended_filter_known_on,
        }

    def signals_body(selection: Selection, statistics: dict, threshold: float, strategy: str | None = None) -> Response:
        """JSON of the answer, its signals joined from their pre-serialised bytes (see the engine)."""
        rows = b",".join(engine.encoded.get(id(s)) or orjson.dumps(s) for s in selection.signals)
        head = orjson.dumps(envelope(selection, statistics, threshold, strategy))
        return Response(head.replace(b'"signals":null', b'"signals":[' + rows + b"]", 1), media_type="application/json")

    @router.post("/signals/ml-enhanced", response_model=SignalsResponse, responses=BODY_ERRORS)
    async def ml_enhanced(request: MLEnhancedRequest | None = None) -> Response:
        """Consensus signals live on the day, scored by the champion model, best first (no body: the defaults)."""
        request = request or MLEnhancedRequest()

        def build() -> Response:
            selection = engine.select(
                request.shariah_only, request.max_symbols, request.symbols, request.as_of,
                min_ml_probability=request.min_ml_probability, admit_unknown=request.admit_unknown, recommended_only=request.recommended_only,
            )
            return signals_body(selection, engine.ml_statistics(selection.signals), request.min_ml_probability)

        # With the day's signals already shaped, an answer is a filter and a join (well under a
        # millisecond): done here, without a hop to a worker thread. Otherwise the queries run there.
        return build() if engine.has_shaped(request.as_of) else await run_in_threadpool(build)

    @router.post("/signals/generate", response_model=SignalsResponse, responses=BODY_ERRORS)
    def generate(request: GenerateRequest | None = None) -> Response:
        """One strategy's signals of the day, or the consensus (``ml_consensus``: with the ML filter)."""
        request = request or GenerateRequest()
        if request.strategy in STRATEGY_NAMES:
            return strategy_signals(request)
        use_ml = request.strategy == "ml_consensus" or request.enable_ml_filter
        threshold = {"min_ml_probability" if use_ml else "min_consensus_confidence": request.min_confidence}
        selection = engine.select(request.shariah_only, request.max_symbols, request.symbols, request.as_of,
                                  admit_unknown=request.admit_unknown, recommended_only=request.recommended_only, **threshold)
        return signals_body(selection, engine.ml_statistics(selection.signals), request.min_confidence, request.strategy)

    def strategy_signals(request: GenerateRequest) -> Response:
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
            known_symbols=engine.known_symbols() if request.symbols else None, recommended_only=request.recommended_only,
        )
        selection.note = before or selection.note
        return signals_body(selection, {}, request.min_confidence, request.strategy)

    return router


def market_router(services: Services) -> APIRouter:
    engine = services.engine
    router = APIRouter(tags=["market"])

    @router.get("/market/context", response_model=MarketContextModel, responses=DATA_ERRORS)
    async def market_context() -> dict:
        """The newest market context, with what it means (built once per snapshot)."""
        return engine.get_market_context() if engine.has_contexts() else await run_in_threadpool(engine.get_market_context)

    return router


def ml_router(services: Services) -> APIRouter:
    engine, champion = services.engine, services.champion
    router = APIRouter(tags=["ml"])

    @router.get("/ml/performance", response_model=PerformanceResponse, responses=DATA_ERRORS)
    def ml_performance() -> dict:
        """Out-of-sample performance and the ML statistics, as the pipeline measured them, and whether
        they are the current champion's."""
        return {"success": True, **engine.get_ml_performance_summary()}

    @router.get("/ml/test", response_model=MLTestResponse, responses=DATA_ERRORS)
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

    return router


def system_router(services: Services) -> APIRouter:
    engine, champion = services.engine, services.champion
    router = APIRouter(tags=["system"])

    @router.get("/system/status", response_model=StatusResponse)
    def system_status() -> dict:
        """The guide's ``system_status`` (data, ``ml_status``, pipeline), recent runs and failures read
        from the Dagster instance itself, and the model versions. A failure shows the failed step and
        the kind of failure, not its message (which names files and folders): that is in the run's log
        in the Dagster UI, and in `emergent-pipeline status` on the pipeline's machine."""
        try:
            champion.current(wait=False, max_age=PROBE_SECONDS)
        except ChampionUnavailable:
            pass
        served = {"loaded_version": champion.loaded.version if champion.loaded else None, "error": champion.error}
        failures = engine.table_or_empty("run_failures", "SELECT * FROM run_failures ORDER BY failed_at DESC LIMIT 10")
        recorded = [{"run_id": f["run_id"], "job": f["job_name"], "status": "FAILURE", "ended_at": f["failed_at"], "message": f["message"]}
                    for f in records(failures, list(failures.columns))]
        return status_report(engine.reader.path, services.tracking_uri, dagster_home(), served=served, run_failures=recorded, detail=False)

    @router.get("/health", response_model=HealthResponse)
    def health() -> dict:
        """Liveness: the process answers. Whether it can serve is ``/health/ready``."""
        return {"status": "ok", "snapshot": engine.reader.has_table("signal_outcomes")}

    def readiness() -> JSONResponse:
        reasons, newest = engine.reader.readiness()
        try:
            version = champion.current(wait=False, max_age=PROBE_SECONDS).version
        except ChampionUnavailable as failure:
            version = None
            reasons.append(str(failure))
        body = {"status": "not ready" if reasons else "ready", "champion_version": version, "newest_price_date": newest if not reasons else None,
                "reasons": reasons, "warnings": engine.reader.warnings()}
        return JSONResponse(status_code=503 if reasons else 200, content=body)

    @router.get("/health/ready", response_model=ReadinessResponse, responses={503: {"model": ReadinessResponse}})
    async def ready():
        """Readiness: 200 when a complete snapshot and a loadable champion are there, else 503 with the
        reasons; ``warnings`` says what to know although it serves. Writes nothing; the model is loaded
        again only when ``@champion`` moved (the registry asked at most every ``PROBE_SECONDS``), and
        a load under way is reported, not waited for. A probe whose answer is known (registry asked
        lately, the publication checked) is answered at once; otherwise in a worker thread."""
        if champion.fresh(PROBE_SECONDS) and engine.reader.readiness_known():
            return readiness()
        return await run_in_threadpool(readiness)

    @router.get("/strategies", response_model=StrategiesResponse)
    def strategies() -> dict:
        """The ten strategies, the consensus weight each had in the stored signals (the newest one its
        votes carry; the default where it never voted), their default parameters, and the model's features."""
        params, used = resolve_params(), engine.strategy_weights()
        return {
            "strategies": [{"name": n, "weight": used.get(n, DEFAULT_WEIGHTS[n]),
                            "weight_from": "the stored consensus" if n in used else "the default (no stored vote)",
                            "parameters": vars(params[n])} for n in STRATEGY_NAMES],
            "special": ["consensus", "ml_consensus"],
            "model_features": FEATURES,
        }

    return router


ROUTERS = (signals_router, market_router, ml_router, system_router)
