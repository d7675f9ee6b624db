"""Count the requests a fake vendor is answering at once (what the vendor's GPU would see)."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


class InFlight:
    """ASGI middleware: `now` requests to a path containing `path` are in progress, `peak`
    is the most there were at once. A request counts from its arrival until its answer is
    sent (or its client hung up), including any time it waits inside the vendor."""

    def __init__(self, app: ASGIApp, path: str) -> None:
        self.app = app
        self.path = path
        self.now = 0
        self.peak = 0
        self.total = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.path not in scope["path"]:
            await self.app(scope, receive, send)
            return
        self.now += 1
        self.total += 1
        self.peak = max(self.peak, self.now)
        try:
            await self.app(scope, receive, send)
        finally:
            self.now -= 1
