"""ASGI middleware of the REST API: the request body bounded in size and in time, and one snapshot per request."""

from __future__ import annotations

import asyncio
import time
from contextlib import nullcontext

from fastapi.responses import JSONResponse

from emergent_pipeline.api import queries


def error(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The API's error shape: ``{"success": false, "detail": ...}``."""
    return JSONResponse(status_code=status, content={"success": False, "detail": detail}, headers=headers)


class BodyLimit:
    """Read the whole request body before the app sees it, refusing one larger than ``max_bytes`` (413)
    or not received within ``timeout`` seconds (408, and the connection closed): a client that declares
    a body and stalls would otherwise hold its connection, and a server slot, for ever."""

    def __init__(self, app, max_bytes: int, timeout: float):
        self.app, self.max_bytes, self.timeout = app, max_bytes, timeout

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            return await self.refuse(scope, receive, send, 413, f"request body larger than {self.max_bytes} bytes")
        chunks, size, more = [], 0, True
        deadline = time.monotonic() + self.timeout
        while more:
            try:
                message = await asyncio.wait_for(receive(), max(deadline - time.monotonic(), 0))
            except asyncio.TimeoutError:
                return await self.refuse(scope, receive, send, 408, f"request body not received within {self.timeout:g} s")
            if message["type"] == "http.disconnect":
                return None
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > self.max_bytes:
                return await self.refuse(scope, receive, send, 413, f"request body larger than {self.max_bytes} bytes")
        body, sent = b"".join(chunks), False

        async def replay():
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        return await self.app(scope, replay, send)

    @staticmethod
    async def refuse(scope, receive, send, status: int, detail: str):
        # "Connection: close": the rest of the body will not be read, so the connection cannot carry another request.
        await error(status, detail, headers={"Connection": "close"})(scope, receive, send)


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
