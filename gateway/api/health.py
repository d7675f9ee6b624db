"""`GET /healthz`: the process is up and its state backend answers."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway.api.envelope import ok
from gateway.services import Gateway


async def healthz(request: Request) -> JSONResponse:
    gateway: Gateway = request.app.state.gateway
    await gateway.state.ping()  # StateUnavailable -> 503 via the app's handler
    return ok({"status": "ok"})


routes = [Route("/healthz", healthz, methods=["GET"])]
