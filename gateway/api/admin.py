"""The admin API under `/admin`: admin keys only (`[admin] keys`). A tenant key answers
403, an unknown or missing key 401; admin keys are never tenant keys (the tenant routes
answer them 401).

`GET /admin/tenants`, `GET /admin/backends`, `GET /admin/overview`, `GET /admin/history`
(the last hour of samples, for the console's charts), `POST /admin/reload` (what SIGHUP
does); the record listings are in admin_records.py.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway import admin_views
from gateway.api.envelope import ok
from gateway.auth import presented_key
from gateway.errors import ApiError, unauthorized
from gateway.ops_history import OpsHistory, snapshot
from gateway.reload import reload_now
from gateway.services import Gateway


def admin_gateway(request: Request) -> Gateway:
    """The gateway, once the request carries an admin key."""
    gateway: Gateway = request.app.state.gateway
    key = presented_key(request.headers)
    if gateway.admin_keys.tenant_for(key) is not None:
        return gateway
    if gateway.keyring.tenant_for(key) is not None:
        raise ApiError(403, "forbidden", "this is a tenant key; the admin API needs an admin key")
    raise unauthorized("unknown admin key")


async def list_tenants(request: Request) -> JSONResponse:
    gateway = admin_gateway(request)
    return ok({"tenants": await admin_views.tenants(gateway)})


async def list_backends(request: Request) -> JSONResponse:
    gateway = admin_gateway(request)
    return ok({"backends": await admin_views.backends(gateway)})


async def overview(request: Request) -> JSONResponse:
    gateway = admin_gateway(request)
    return ok(await admin_views.overview(gateway))


async def history(request: Request) -> JSONResponse:
    gateway = admin_gateway(request)
    ops: OpsHistory = request.app.state.ops_history
    # The stored samples, then one taken now: a chart always ends at the present.
    samples = [*ops.samples(), await snapshot(gateway)]
    return ok({"everySeconds": ops.every, "samples": samples})


async def reload_config(request: Request) -> JSONResponse:
    gateway = admin_gateway(request)
    loader = request.app.state.reload
    if loader is None:
        raise ApiError(409, "reload_unavailable", "this gateway has no config file to re-read")
    outcome = reload_now(gateway, loader)
    if not outcome.applied:
        raise ApiError(422, "config_invalid", f"reload refused: {outcome.error}")
    return ok(
        {
            "applied": True,
            "plans": outcome.plans,
            "tenants": outcome.tenants,
            "restartNeeded": list(outcome.restart_needed),
        }
    )


routes = [
    Route("/admin/tenants", list_tenants, methods=["GET"]),
    Route("/admin/backends", list_backends, methods=["GET"]),
    Route("/admin/overview", overview, methods=["GET"]),
    Route("/admin/history", history, methods=["GET"]),
    Route("/admin/reload", reload_config, methods=["POST"]),
]
