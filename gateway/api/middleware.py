"""Pure ASGI middleware around every route: the request id and the HTTP metrics.

The request id is the client's `X-Request-Id` when it is safe to keep (bounded, plain
characters), else a new one; it is set for the request's log lines, kept in the scope
for the error handlers, and echoed on the response.
"""

from __future__ import annotations

import time
import uuid

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import logs
from gateway.metrics import OTHER, Metrics

REQUEST_ID_HEADER = "X-Request-Id"
SCOPE_KEY = "imagegate.request_id"


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            return logs.valid_request_id(value.decode("latin-1"))
    return None


def _route_template(scope: Scope) -> str:
    """The matched route's path template (never the raw path: ids stay out of labels)."""
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) and path else OTHER


class RequestContext:
    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = _incoming_request_id(scope) or uuid.uuid4().hex
        scope[SCOPE_KEY] = rid
        tokens = (logs.request_id.set(rid), logs.tenant.set(None), logs.job_id.set(None))
        started = time.perf_counter()
        status = 500  # what the client gets if the app raises before answering

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = rid
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except BaseException:
            # The context stays set: the outer error handler logs (and answers) after us.
            self._observe(scope, status, started)
            raise
        self._observe(scope, status, started)
        for var, token in zip((logs.request_id, logs.tenant, logs.job_id), tokens, strict=True):
            var.reset(token)  # type: ignore[attr-defined]

    def _observe(self, scope: Scope, status: int, started: float) -> None:
        seconds = time.perf_counter() - started
        self.metrics.http_request(_route_template(scope), scope["method"], status, seconds)
