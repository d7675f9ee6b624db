"""The OpenAPI 3.1 document of the whole API, served at `GET /openapi.json`.

Built from the running config (its model aliases and sizes), so it describes this gateway.
tests/test_openapi.py keeps it true: every route is described and nothing else, the error
codes are `gateway.errors.PUBLIC_ERRORS`, and schemathesis fuzzes every operation.
"""

from __future__ import annotations

from typing import Any

from gateway import __version__
from gateway.openapi.components import HEADERS, PARAMETERS, SCHEMAS, error_responses
from gateway.openapi.paths import paths
from gateway.settings import Settings

__all__ = ["openapi_document"]

DESCRIPTION = """An image-generation gateway: asynchronous jobs behind per-key quotas and
budgets, a result cache, vendor fallbacks and signed image URLs. The job API answers in an
envelope (`{"ok": true, "data": ...}` / `{"ok": false, "error": {"code", "message"}}`);
`/v1` speaks OpenAI's Images API and its `{"error": {...}}` shape. A path that matches no
route answers `NotFound`, a method a route lacks `MethodNotAllowed` (both in the envelope,
or OpenAI's shape under `/v1`)."""


def _security_schemes() -> dict[str, Any]:
    def bearer(what: str) -> dict[str, Any]:
        return {"type": "http", "scheme": "bearer", "description": what}

    def api_key(what: str) -> dict[str, Any]:
        return {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": what}

    return {
        "bearer": bearer("A tenant key"),
        "apiKey": api_key("A tenant key"),
        "adminBearer": bearer("An admin key ([admin] keys)"),
        "adminApiKey": api_key("An admin key ([admin] keys)"),
    }


def openapi_document(settings: Settings) -> dict[str, Any]:
    starlette_own = error_responses({404: ["not_found"], 405: ["method_not_allowed"]})
    return {
        "openapi": "3.1.0",
        "info": {"title": "Imagegate", "version": __version__, "description": DESCRIPTION},
        "servers": [{"url": settings.server.base_url}],
        "paths": paths(settings),
        "components": {
            "schemas": SCHEMAS,
            "headers": HEADERS,
            "parameters": PARAMETERS,
            "securitySchemes": _security_schemes(),
            "responses": {
                "NotFound": starlette_own["404"],
                "MethodNotAllowed": starlette_own["405"],
            },
        },
    }
