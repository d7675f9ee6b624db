"""Health probes: `/livez` (the process answers), `/readyz` (it can do its work) and
`/healthz` (the state store answers; kept for existing probes)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway.api.envelope import ok
from gateway.errors import ApiError
from gateway.readiness import failed, readiness
from gateway.services import Gateway


async def healthz(request: Request) -> JSONResponse:
    gateway: Gateway = request.app.state.gateway
    await gateway.state.ping()  # StateUnavailable -> 503 via the app's handler
    return ok({"status": "ok"})


async def livez(request: Request) -> JSONResponse:
    return ok({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    checks = await readiness(getattr(request.app.state, "gateway", None))
    broken = failed(checks)
    if not broken:
        return ok({"status": "ready", "checks": checks})
    message = "not ready: " + ", ".join(f"{part} {checks[part]}" for part in broken)
    error = ApiError(503, "not_ready", message, {"Retry-After": "1"})
    body = {"code": error.code, "message": error.message, "checks": checks}
    return JSONResponse({"ok": False, "error": body}, error.status, error.headers)


routes = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/livez", livez, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
]
