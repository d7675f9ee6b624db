"""`create_app(settings)`: the Starlette app, its routes, error handlers and lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response

from gateway.api import (
    admin,
    admin_records,
    batches,
    files,
    health,
    job_events,
    job_webhooks,
    jobs,
    metrics,
    models,
    openai_images,
    openai_usage,
    openapi,
)
from gateway.api.console import Console
from gateway.api.middleware import EdgeMiddleware
from gateway.api.surfaces import render
from gateway.errors import ApiError, redact
from gateway.metrics import Metrics
from gateway.ops_history import OpsHistory
from gateway.reload import Loader, install_sighup
from gateway.services import Gateway
from gateway.settings import Settings
from gateway.state.base import StateUnavailable
from gateway.storage import StorageUnavailable

log = logging.getLogger("imagegate.app")
# Starlette's own answers (no route, no such method) in the envelope.
HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return render(request.url.path, exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = HTTP_CODES.get(exc.status_code, "invalid_request")
    error = ApiError(exc.status_code, code, str(exc.detail), dict(exc.headers or {}))
    return render(request.url.path, error)


async def _state_unavailable(request: Request, exc: Exception) -> Response:
    request.app.state.metrics.state_error("api")
    log.error("state unavailable: %s", redact(str(exc)))
    return render(
        request.url.path,
        ApiError(
            503,
            "state_unavailable",
            "the gateway's state store is unavailable; retry",
            {"Retry-After": "1"},
        ),
    )


async def _storage_unavailable(request: Request, exc: Exception) -> Response:
    request.app.state.metrics.storage_error("api")
    log.error("storage unavailable: %s", exc)  # already redacted
    return render(
        request.url.path,
        ApiError(
            503,
            "storage_unavailable",
            "the gateway's object storage is unavailable; retry",
            {"Retry-After": "1"},
        ),
    )


def create_app(settings: Settings, *, reload: Loader | None = None, **overrides: Any) -> Starlette:
    """The gateway app. `reload` re-reads the config on SIGHUP (quotas and keys apply
    live); `overrides` go to `Gateway.open` (state, backends, sleep, ...)."""
    collectors = Metrics(settings)
    ops_history = OpsHistory()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        gateway = await Gateway.open(settings, metrics=collectors, **overrides)
        app.state.gateway = gateway
        if reload is not None:
            install_sighup(gateway, reload)
        try:
            async with ops_history.running(gateway):
                yield
        finally:
            await gateway.aclose()

    app = Starlette(
        routes=[
            *jobs.routes,
            *models.routes,
            *job_events.routes,
            *job_webhooks.routes,
            *batches.routes,
            *files.routes,
            *health.routes,
            *metrics.routes,
            *admin.routes,
            *admin_records.routes,
            *openai_images.routes,
            *openai_usage.routes,
            *openapi.routes,
            *Console(settings).routes,
        ],
        # Unexpected exceptions are answered (and logged once) by EdgeMiddleware.
        middleware=[
            Middleware(
                EdgeMiddleware,
                metrics=collectors,
                max_header_bytes=settings.server.max_header_bytes,
            )
        ],
        exception_handlers={
            ApiError: _api_error,
            HTTPException: _http_error,
            StateUnavailable: _state_unavailable,
            StorageUnavailable: _storage_unavailable,
        },
        lifespan=lifespan,
    )
    app.state.metrics = collectors
    app.state.ops_history = ops_history
    app.state.reload = reload
    # A trailing slash answers 404 with the envelope instead of a bare redirect.
    app.router.redirect_slashes = False
    return app
