"""`GET /openapi.json`: the OpenAPI 3.1 document of this gateway (gateway/openapi/)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway.openapi import openapi_document


async def openapi(request: Request) -> JSONResponse:
    # Built from the settings the app started with: aliases and sizes need a restart.
    document = getattr(request.app.state, "openapi", None)
    if document is None:
        document = openapi_document(request.app.state.gateway.settings)
        request.app.state.openapi = document
    return JSONResponse(document)


routes = [Route("/openapi.json", openapi, methods=["GET"])]
