"""The REST API: the guide's endpoints over the serving snapshot (it never recomputes the pipeline).

Start it with ``emergent-pipeline serve`` (127.0.0.1:8000 by default).
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone

import pandas as pd
from collections import OrderedDict

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from emergent_pipeline.api import queries
from emergent_pipeline.api.engine import MLEnhancedSignalEngine, Selection, clean, filter_signals, records
from emergent_pipeline.api.models import (
    ErrorResponse, GenerateRequest, HealthResponse, MarketContextModel, MLEnhancedRequest, MLTestResponse, PerformanceResponse,
    SignalsResponse, StatusResponse, StrategiesResponse,
)
from emergent_pipeline.core.consensus import DEFAULT_WEIGHTS
from emergent_pipeline.core.features import FEATURES
from emergent_pipeline.core.strategies.registry import STRATEGY_NAMES, resolve_params
from emergent_pipeline.model_registry import CHALLENGER, CHAMPION, ModelStore, default_artifact_root, default_tracking_uri

VALID_STRATEGIES = [*STRATEGY_NAMES, "consensus", "ml_consensus"]
GENERATED_AT_MARK = "__generated_at__"
ERRORS = {400: {"model": ErrorResponse}, 422: {"model": ErrorResponse}, 503: {"model": ErrorResponse}}


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def create_app(snapshot_path: str | None = None, tracking_uri: str | None = None) -> FastAPI:
    app = FastAPI(title="emergent-pipeline", version="0.1.0", description=__doc__)
    engine = MLEnhancedSignalEngine(enable_ml=True, snapshot_path=snapshot_path)
    store = ModelStore(tracking_uri or default_tracking_uri(), default_artifact_root())
    models: dict[str, object] = {}

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        reasons = "; ".join(f"{'.'.join(str(p) for p in e['loc'] if p != 'body') or 'body'}: {e['msg']}" for e in error.errors())
        return JSONResponse(status_code=422, content={"success": False, "detail": f"invalid request: {reasons}"})

    @app.exception_handler(queries.OutOfRangeError)
    async def out_of_range(_: Request, error: queries.OutOfRangeError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"success": False, "detail": str(error)})

    @app.exception_handler(queries.NoDataError)
    async def no_data(_: Request, error: queries.NoDataError) -> JSONResponse:
        return JSONResponse(status_code=503, content={"success": False, "detail": str(error)})

    def answer(selection: Selection, statistics: dict, threshold: float, strategy: str | None = None, generated_at: str | None = None) -> dict:
        """The response body: the guide's fields, and what the filters did."""
        return {
            "success": True, "signals_count": len(selection.signals), "signals": selection.signals, "ml_statistics": statistics,
            "filter_threshold": threshold, "generated_at": generated_at or now(), "as_of": str(selection.day.date()),
            "strategy": strategy, "live_signals": selection.live, "shariah_filter": selection.shariah, "note": selection.note,
        }

    answers: OrderedDict[tuple, bytes] = OrderedDict()

    async def cached_answer(endpoint: str, request: BaseModel, build) -> Response:
        """The answer to a request against the current snapshot, built once and kept: a snapshot
        never changes once published, so the same request gets the same signals until the next
        publication (a new file, hence a new key). Only ``generated_at`` is stamped per response."""
        key = (engine.reader.snapshot().version, endpoint, request.model_dump_json())
        body = answers.get(key)
        if body is None:
            # The rows were shaped from the stored tables once per snapshot (see the engine): they are
            # serialised as they are, without re-validating hundreds of rows per request.
            answer = await run_in_threadpool(build)
            body = json.dumps(answer, separators=(",", ":")).replace(GENERATED_AT_MARK, "{generated_at}", 1).encode()
            answers[key] = body
            if len(answers) > 512:
                answers.popitem(last=False)
        return Response(body.replace(b"{generated_at}", now().encode(), 1), media_type="application/json")

    @app.post("/signals/ml-enhanced", response_model=SignalsResponse, responses=ERRORS)
    async def ml_enhanced(request: MLEnhancedRequest | None = None) -> Response:
        """Consensus signals live on the day, scored by the champion model, best first (no body: the defaults)."""
        request = request or MLEnhancedRequest()

        def build() -> dict:
            selection = engine.select(
                request.shariah_only, request.max_symbols, request.symbols, request.as_of,
                min_ml_probability=request.min_ml_probability, admit_unknown=request.admit_unknown,
            )
            return answer(selection, engine.ml_statistics(selection.signals), request.min_ml_probability, generated_at=GENERATED_AT_MARK)

        return await cached_answer("ml-enhanced", request, build)

    @app.post("/signals/generate", response_model=SignalsResponse, responses=ERRORS)
    def generate(request: GenerateRequest | None = None):
        """One strategy's signals of the day, or the consensus (``ml_consensus``: with the ML filter)."""
        request = request or GenerateRequest()
        if request.strategy not in VALID_STRATEGIES:
            return JSONResponse(status_code=400, content={"success": False, "detail": f"unknown strategy {request.strategy!r}; valid: {', '.join(VALID_STRATEGIES)}"})
        day = engine.resolve_as_of(request.as_of)
        if request.strategy in STRATEGY_NAMES:
            frame = queries.strategy_signals_on(engine.reader, request.strategy, day)
            fields = ["symbol", "date", "strategy", "signal_type", "confidence", "entry_price", "target_price", "stop_loss", "validity_days", "reason", "shariah_status"]
            selection = filter_signals(
                records(frame, fields), day, shariah_only=request.shariah_only, admit_unknown=request.admit_unknown,
                standard=engine.shariah_standard(), max_symbols=request.max_symbols, symbols=request.symbols,
                min_confidence=request.min_confidence, confidence_field="confidence", use_ml=False, what=f"{request.strategy} signals",
            )
            return answer(selection, {}, request.min_confidence, request.strategy)
        use_ml = request.strategy == "ml_consensus" or request.enable_ml_filter
        threshold = {"min_ml_probability" if use_ml else "min_consensus_confidence": request.min_confidence}
        selection = engine.select(request.shariah_only, request.max_symbols, request.symbols, day, admit_unknown=request.admit_unknown, **threshold)
        return answer(selection, engine.ml_statistics(selection.signals), request.min_confidence, request.strategy)

    @app.get("/market/context", response_model=MarketContextModel, responses=ERRORS)
    def market_context() -> dict:
        """The newest market context, with what it means."""
        return engine.get_market_context()

    @app.get("/ml/performance", response_model=PerformanceResponse, responses=ERRORS)
    def ml_performance() -> dict:
        """Out-of-sample performance and the ML statistics, as the pipeline measured them."""
        return {"success": True, **engine.get_ml_performance_summary()}

    @app.get("/ml/test", response_model=MLTestResponse, responses=ERRORS)
    def ml_test():
        """Scores one stored signal with the champion: latency and model version."""
        champion = store.version_by_alias(CHAMPION)
        if champion is None:
            return JSONResponse(status_code=503, content={"success": False, "detail": "no champion model: run the train_signal_model job"})
        features = engine.reader.query("SELECT * FROM signal_features ORDER BY date DESC LIMIT 1", table="signal_features")
        start = time.perf_counter()
        model = models.get(str(champion.version))
        if model is None:
            model = models[str(champion.version)] = store.load(champion)
        load = time.perf_counter() - start
        start = time.perf_counter()
        probability = float(model.predict_proba(features[store.features_of(champion)])[:, 1][0])
        latency = time.perf_counter() - start
        return {
            "success": True, "model_version": str(champion.version), "symbol": features["symbol"].iloc[0],
            "date": clean(features["date"].iloc[0]), "ml_probability": probability,
            "latency_ms": round(latency * 1000, 3), "model_load_ms": round(load * 1000, 3),
        }

    @app.get("/system/status", response_model=StatusResponse, responses=ERRORS)
    def system_status() -> dict:
        """Data freshness, recent runs, failures and model versions."""
        return status_report(engine, store)

    @app.get("/health", response_model=HealthResponse)
    def health() -> dict:
        """Up, and whether a snapshot is there to serve."""
        try:
            engine.reader.snapshot()
            return {"status": "ok", "snapshot": True}
        except queries.NoDataError:
            return {"status": "ok", "snapshot": False}

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


def status_report(engine: MLEnhancedSignalEngine, store: ModelStore) -> dict:
    """What /system/status and `emergent-pipeline status` report."""
    prices = engine.reader.query("SELECT max(date) newest, count(DISTINCT symbol) symbols FROM price_history", table="price_history").iloc[0]
    failures = engine.reader.query("SELECT * FROM run_failures ORDER BY failed_at DESC LIMIT 5") if engine.reader.has_table("run_failures") else pd.DataFrame()
    versions = {alias: (str(v.version) if (v := store.version_by_alias(alias)) else None) for alias in (CHAMPION, CHALLENGER)}
    return {
        "success": True,
        "data": {"newest_price_date": clean(prices["newest"]), "symbols": int(prices["symbols"]), "snapshot_published_at": engine.reader.published_at().isoformat()},
        "models": versions,
        "recent_runs": recent_runs(),
        "recent_failures": records(failures, list(failures.columns)) if len(failures) else [],
        "generated_at": now(),
    }


def recent_runs(limit: int = 5) -> list[dict]:
    """The newest runs of the Dagster instance ($DAGSTER_HOME), when there is one."""
    try:
        from dagster import DagsterInstance

        instance = DagsterInstance.get()
        return [
            {"run_id": r.run_id, "job": r.job_name, "status": r.status.value}
            for r in instance.get_runs(limit=limit)
        ]
    except Exception:  # noqa: BLE001 - no instance configured: status still answers
        return []
