"""The outermost edge of every HTTP request: a request id, a header-size limit, and one
log line (never a traceback) for an exception nothing else handled.

Pure ASGI (no BaseHTTPMiddleware): streaming bodies pass through untouched and other scope
types (lifespan) are not wrapped. It sits inside Starlette's ServerErrorMiddleware, so an
unexpected exception is answered here with the envelope and does not reach uvicorn, which
would log a second traceback and drop the keep-alive connection.
"""

from __future__ import annotations

import logging
import traceback
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.api.envelope import failure
from gateway.errors import ApiError, redact

log = logging.getLogger("imagegate.app")
REQUEST_ID_HEADER = b"x-request-id"
DEFAULT_MAX_HEADER_BYTES = 32 * 1024  # nginx's default header buffers hold about as much


class EdgeMiddleware:
    def __init__(self, app: ASGIApp, *, max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES) -> None:
        if max_header_bytes < 1024:
            raise ValueError("max_header_bytes must be at least 1024")
        self.app = app
        self.max_header_bytes = max_header_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex[:16]
        scope.setdefault("state", {})["request_id"] = request_id
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [*message.get("headers", []), (REQUEST_ID_HEADER, request_id.encode())]
                message = {**message, "headers": headers}
            await send(message)

        size = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
        size += sum(len(name) + len(value) + 4 for name, value in scope["headers"])
        if size > self.max_header_bytes:
            error = ApiError(
                431,
                "request_header_fields_too_large",
                f"the request line and headers exceed {self.max_header_bytes} bytes",
            )
            await failure(error)(scope, receive, send_with_id)
            return
        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            log.error(
                "request %s %s %s failed: %s",
                request_id,
                scope.get("method", ""),
                scope.get("path", ""),
                describe(exc),
            )
            if not started:  # else the client sees the connection end mid-response
                error = ApiError(500, "internal_error", "the gateway failed unexpectedly")
                await failure(error)(scope, receive, send_with_id)


def describe(exc: BaseException) -> str:
    """`Type: message (file.py:line in func)` on one line, redacted and bounded."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = ""
    if frames:
        last = frames[-1]
        where = f" ({last.filename.rsplit('/', 1)[-1]}:{last.lineno} in {last.name})"
    message = " ".join(redact(str(exc)).split())[:300]
    return f"{type(exc).__name__}: {message}{where}"
