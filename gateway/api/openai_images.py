"""The OpenAI-compatible surface: `POST /v1/images/generations` (edits and variations:
gateway/api/openai_edits.py), `GET /v1/models[/{id}]`.

The official SDK works against it by changing `base_url` to `<gateway>/v1`; its bearer key
is the tenant key. Each call is a job of the job API (same admission, quotas, budget and
cache: an identical request through either surface costs one vendor call), which the call
waits for (`openai_api.wait_limit`) without polling. `Prefer: respond-async` answers 202
with the job and its Location instead. `Idempotency-Key` makes a retry safe, as on the job
API (gateway/api/idempotent.py). Errors are OpenAI's `{"error": {...}}`
(gateway/api/openai_errors.py).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.api import openai_edits
from gateway.api.envelope import read_json
from gateway.api.idempotent import idempotent
from gateway.api.openai_answer import respond
from gateway.api.openai_request import parse_generation
from gateway.errors import ApiError
from gateway.services import Gateway


async def generations(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    tenant = gateway.keyring.authenticate(request.headers)
    body = await read_json(request, gateway.settings.server.max_body_bytes)
    return await respond(request, gateway, tenant, parse_generation(body, gateway.settings))


def _model(alias: str, name: str | None = None) -> dict[str, Any]:
    return {"id": name or alias, "object": "model", "created": 0, "owned_by": "imagegate"}


def _listed(gateway: Gateway, tenant: str) -> dict[str, dict[str, Any]]:
    """Every model id the tenant's keys may use: aliases and the OpenAI names they answer to."""
    listed = {}
    settings = gateway.settings
    for alias, model in settings.models.items():
        if not settings.may_use(tenant, alias):
            continue
        listed[alias] = _model(alias)
        for name in model.openai_names:
            listed[name] = _model(alias, name)
    return listed


async def list_models(request: Request) -> JSONResponse:
    gateway: Gateway = request.app.state.gateway
    tenant = gateway.keyring.authenticate(request.headers)
    gateway.plan(tenant)
    return JSONResponse({"object": "list", "data": list(_listed(gateway, tenant).values())})


async def get_model(request: Request) -> JSONResponse:
    gateway: Gateway = request.app.state.gateway
    tenant = gateway.keyring.authenticate(request.headers)
    gateway.plan(tenant)
    model_id = request.path_params["model_id"]
    found = _listed(gateway, tenant).get(model_id)
    if found is None:
        raise ApiError(404, "model_not_found", f"no model {model_id[:64]!r}", param="model")
    return JSONResponse(found)


routes = [
    Route("/v1/images/generations", idempotent(generations), methods=["POST"]),
    *openai_edits.routes,
    Route("/v1/models", list_models, methods=["GET"]),
    Route("/v1/models/{model_id:path}", get_model, methods=["GET"]),
]
