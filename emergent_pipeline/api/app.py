"""The REST API: the guide's endpoints over the serving snapshot (it never recomputes the pipeline).

Start it with ``emergent-pipeline serve`` or ``python -m emergent_pipeline.api`` (127.0.0.1:8000 by
default). ``/health`` says the process is up; ``/health/ready`` says whether it can serve (a readable
snapshot and a loadable champion). Every endpoint answers at the root and under ``/api``.
"""

from __future__ import annotations

import os
import threading
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware

from emergent_pipeline.api import queries
from emergent_pipeline.api.champion import ServedChampion
from emergent_pipeline.api.engine import MLEnhancedSignalEngine
from emergent_pipeline.api.middleware import BodyLimit, PinSnapshot, error
from emergent_pipeline.api.routes import ROUTERS, Services
from emergent_pipeline.paths import default_tracking_uri

CORS_ENV = "EMERGENT_PIPELINE_CORS_ORIGINS"
HOSTS_ENV = "EMERGENT_PIPELINE_ALLOWED_HOSTS"
MAX_BODY_ENV = "EMERGENT_PIPELINE_MAX_BODY_BYTES"
BODY_TIMEOUT_ENV = "EMERGENT_PIPELINE_BODY_TIMEOUT"
MAX_BODY_BYTES = 64 * 1024
"""The largest request body accepted: the biggest valid request (500 tickers) is about 10 KB."""
BODY_TIMEOUT = 10.0
"""Seconds a client has to send its whole request body."""
LOCAL_HOSTS = ["localhost", "127.0.0.1", "::1"]
"""The Host headers served by default: a page on another site that points a name of its own at this
machine (DNS rebinding) sends its own name, and is refused."""
API_PREFIX = "/api"
QUOTED = 40
"""At most this many characters of a client's input are quoted back in an error message."""
PARSE_FAILURES = {
    UnicodeDecodeError: "not UTF-8 text",
    RecursionError: "JSON nested too deeply",
    ValueError: "a number too long to read",
}
"""Why a body that is no valid JSON could not be read, by the error the JSON reader raised."""


def quoted(value: object, limit: int = QUOTED) -> str:
    """A client's input as an error message may show it: its first ``limit`` characters."""
    text = str(value)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def listed(configured: list[str] | None, env: str) -> list[str]:
    """As configured, else the comma-separated ``$env`` (empty when unset)."""
    if configured is not None:
        return configured
    return [item.strip() for item in os.environ.get(env, "").split(",") if item.strip()]


def body_limit(configured: int | None) -> int:
    """The body limit in bytes: as configured, else ``$EMERGENT_PIPELINE_MAX_BODY_BYTES``, else 64 KiB."""
    return configured or int(os.environ.get(MAX_BODY_ENV) or MAX_BODY_BYTES)


def body_timeout(configured: float | None) -> float:
    """Seconds to receive a body: as configured, else ``$EMERGENT_PIPELINE_BODY_TIMEOUT``, else 10."""
    return configured or float(os.environ.get(BODY_TIMEOUT_ENV) or BODY_TIMEOUT)


def add_error_handlers(app: FastAPI) -> None:
    """Every refusal in the API's shape, ``{"success": false, "detail": ...}``, naming the field."""

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, failure: RequestValidationError) -> JSONResponse:
        reasons = "; ".join(reason(e) for e in failure.errors()[:10])
        return error(422, f"invalid request: {reasons}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, failure: StarletteHTTPException) -> JSONResponse:
        # A body FastAPI could not read as JSON at all is as invalid as a malformed one: 422, with why.
        cause = next((words for kind, words in PARSE_FAILURES.items() if isinstance(failure.__cause__, kind)), None)
        if failure.status_code == 400 and cause is not None:
            return error(422, f"invalid request: body: {cause}")
        response = error(failure.status_code, quoted(failure.detail, 200))  # FastAPI's own refusals (a wrong method: 405)
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


def reason(problem: dict) -> str:
    """One validation problem as ``field: what is wrong`` (a body that is no JSON: where it breaks)."""
    if problem.get("type") == "json_invalid":
        position = next((p for p in problem["loc"] if isinstance(p, int)), None)
        detail = (problem.get("ctx") or {}).get("error", "JSON decode error")
        return f"body: not valid JSON ({quoted(detail, 80)}{f' at character {position}' if position is not None else ''})"
    field = ".".join(quoted(p, 30) for p in problem["loc"] if p != "body") or "body"
    return f"{field}: {quoted(problem['msg'], 200)}"


def create_app(snapshot_path: str | None = None, tracking_uri: str | None = None, cors: list[str] | None = None,
               max_body_bytes: int | None = None, allowed_hosts: list[str] | None = None, body_timeout_seconds: float | None = None) -> FastAPI:
    """The app. ``cors``: origins a browser front end may call from (else ``$EMERGENT_PIPELINE_CORS_ORIGINS``);
    ``allowed_hosts``: Host headers served besides the local names (else ``$EMERGENT_PIPELINE_ALLOWED_HOSTS``)."""
    tracking_uri = tracking_uri or default_tracking_uri()
    services = Services(MLEnhancedSignalEngine(enable_ml=True, snapshot_path=snapshot_path, tracking_uri=tracking_uri),
                        ServedChampion(tracking_uri), tracking_uri)

    warm = threading.Event()

    def warm_up() -> None:
        # The champion loaded and the newest day's signals shaped before the requests that need them,
        # while the server already answers (readiness says "being loaded" meanwhile).
        try:
            services.champion.preload()
            services.engine.select()
        except queries.NoDataError:
            pass
        finally:
            warm.set()

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        threading.Thread(target=warm_up, name="warm-up", daemon=True).start()
        yield

    app = FastAPI(title="emergent-pipeline", version="0.1.0", description=__doc__, lifespan=lifespan)
    app.state.services, app.state.warm = services, warm
    """Set once the champion is loaded (or known unavailable) and the newest day's signals are shaped."""
    for router in ROUTERS:
        built = router(services)
        app.include_router(built)
        app.include_router(built, prefix=API_PREFIX, include_in_schema=False)
    add_error_handlers(app)
    app.add_middleware(PinSnapshot, reader=services.engine.reader)
    app.add_middleware(BodyLimit, max_bytes=body_limit(max_body_bytes), timeout=body_timeout(body_timeout_seconds))
    origins = listed(cors, CORS_ENV)
    if origins:
        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=["GET", "POST"], allow_headers=["Content-Type"])
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=[*LOCAL_HOSTS, *listed(allowed_hosts, HOSTS_ENV)], www_redirect=False)
    return app


if __name__ == "__main__":  # `python emergent_pipeline/api/app.py`, as the guide starts its API handler
    import emergent_pipeline.api.__main__  # noqa: F401 - serves, as `python -m emergent_pipeline.api`
