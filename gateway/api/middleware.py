"""The outermost edge of every HTTP request: a request id, a header-size limit, the HTTP
metrics, and one log line (never a traceback) for an exception nothing else handled.

The request id is the client's `X-Request-Id` when it is safe to keep (bounded, plain
characters), else a new one; it is set for the request's log lines and echoed on the
response. Pure ASGI (no BaseHTTPMiddleware): streaming bodies pass through untouched and
other scope types (lifespan) are not wrapped. It sits inside Starlette's
ServerErrorMiddleware, so an unexpected exception is answered here with the envelope and
does not reach uvicorn, which would log a second traceback and drop the keep-alive
connection.
"""

from __future__ import annotations

import logging
import os
import time
import traceback
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import logs
from gateway.api.surfaces import render
from gateway.errors import ApiError, redact
from gateway.metrics import OTHER, Metrics

log = logging.getLogger("imagegate.app")
REQUEST_ID_HEADER = b"x-request-id"
DEFAULT_MAX_HEADER_BYTES = 32 * 1024  # nginx's default header buffers hold about as much


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER:
            return logs.valid_request_id(value.decode("latin-1"))
    return None


def _route_template(scope: Scope) -> str:
    """The matched route's path template (never the raw path: ids stay out of labels)."""
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) and path else OTHER


class EdgeMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics,
        max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES,
    ) -> None:
        if max_header_bytes < 1024:
            raise ValueError("max_header_bytes must be at least 1024")
        self.app = app
        self.metrics = metrics
        self.max_header_bytes = max_header_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or os.urandom(8).hex()  # cheaper than uuid4
        scope.setdefault("state", {})["request_id"] = request_id
        tokens = (logs.request_id.set(request_id), logs.tenant.set(None), logs.job_id.set(None))
        clock = time.perf_counter()
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [*message.get("headers", []), (REQUEST_ID_HEADER, request_id.encode())]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self._guarded(scope, receive, send_with_id, lambda: status != 0)
        finally:
            took = time.perf_counter() - clock
            self.metrics.http_request(_route_template(scope), scope["method"], status, took)
            logs.job_id.reset(tokens[2])
            logs.tenant.reset(tokens[1])
            logs.request_id.reset(tokens[0])

    async def _guarded(
        self, scope: Scope, receive: Receive, send: Send, started: Callable[[], bool]
    ) -> None:
        size = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
        size += sum(len(name) + len(value) + 4 for name, value in scope["headers"])
        if size > self.max_header_bytes:
            error = ApiError(
                431,
                "request_header_fields_too_large",
                f"the request line and headers exceed {self.max_header_bytes} bytes",
            )
            await render(scope.get("path", ""), error)(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        except Exception as exc:
            log.error(
                "request %s %s %s failed: %s",
                scope["state"]["request_id"],
                scope.get("method", ""),
                scope.get("path", ""),
                describe(exc),
            )
            if not started():  # else the client sees the connection end mid-response
                error = ApiError(500, "internal_error", "the gateway failed unexpectedly")
                await render(scope.get("path", ""), error)(scope, receive, send)


def describe(exc: BaseException) -> str:
    """`Type: message (file.py:line in func)` on one line, redacted and bounded."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = ""
    if frames:
        last = frames[-1]
        where = f" ({last.filename.rsplit('/', 1)[-1]}:{last.lineno} in {last.name})"
    message = " ".join(redact(str(exc)).split())[:300]
    return f"{type(exc).__name__}: {message}{where}"
