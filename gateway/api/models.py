"""`GET /images/models`: the model aliases a key may use, and what each accepts (sizes,
qualities, n), read from config and the route's first target, which decides what a submit
accepts. The console's playground builds its form from it."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway.api.envelope import ok
from gateway.services import Gateway


def _describe(gateway: Gateway, alias: str) -> dict[str, Any]:
    model = gateway.settings.models[alias]
    target = model.targets[0]
    abilities = gateway.backends[target.backend].capabilities(target.model)
    sizes = [size for size in model.sizes if abilities.sizes is None or size in abilities.sizes]
    return {
        "name": alias,
        "default": model.default,
        "sizes": sizes,
        "defaultSize": model.size_or_default,
        # null: any quality is passed on to the vendor; []: the vendor takes none.
        "qualities": None if abilities.qualities is None else sorted(abilities.qualities),
        "maxN": min(4, abilities.max_n),
        "seed": abilities.seed,
        "negativePrompt": abilities.negative_prompt,
    }


async def list_models(request: Request) -> JSONResponse:
    gateway: Gateway = request.app.state.gateway
    tenant = gateway.keyring.authenticate(request.headers)
    gateway.plan(tenant)  # a tenant removed by a reload is turned away
    settings = gateway.settings
    aliases = [alias for alias in settings.models if settings.may_use(tenant, alias)]
    return ok({"models": [_describe(gateway, alias) for alias in aliases]})


routes = [Route("/images/models", list_models, methods=["GET"])]
