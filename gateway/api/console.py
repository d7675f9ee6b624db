"""The web console at `/console`: static files shipped inside the package
(`gateway/console/`), served as they are (no build step, nothing from a CDN).

Every file is read once when the app is built and answered with its own content type, an
ETag, and a strict Content-Security-Policy: scripts and styles only from this origin, no
inline code, no eval, Trusted Types required for any DOM sink, connections only back to
this gateway, images only from where the gateway's image URLs point (itself, the CDN, the
S3 endpoint). Keys never leave the browser's session storage except as the Authorization
header of the console's own API calls.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.resources import files
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.errors import ApiError
from gateway.settings import ConfigError, Settings
from gateway.storage.s3 import resolve_s3

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}
S3_DEFAULT_ORIGIN = "https://*.amazonaws.com"  # virtual-hosted buckets of every region


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


def load_assets() -> dict[str, Asset]:
    """Every file of the packaged console, by name (a flat folder: no paths to resolve)."""
    assets = {}
    for entry in files("gateway").joinpath("console").iterdir():
        suffix = os.path.splitext(entry.name)[1]
        if entry.is_file() and suffix in CONTENT_TYPES:
            body = entry.read_bytes()
            etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
            assets[entry.name] = Asset(body, CONTENT_TYPES[suffix], etag)
    return assets


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def image_sources(settings: Settings, environ: Mapping[str, str]) -> list[str]:
    """Where the image URLs of a job document may point (see gateway/storage/urls.py)."""
    storage = settings.storage
    sources = ["'self'", "data:", "blob:", _origin(settings.server.base_url)]
    if storage.cdn_base_url:
        sources.append(_origin(storage.cdn_base_url))
    elif storage.url.startswith("s3://"):
        try:
            endpoint = resolve_s3(storage.url, storage, environ).endpoint
        except ConfigError:  # the gateway refuses to start with it anyway
            endpoint = None
        sources.append(_origin(endpoint) if endpoint else S3_DEFAULT_ORIGIN)
    return list(dict.fromkeys(sources))


def security_headers(settings: Settings, environ: Mapping[str, str]) -> dict[str, str]:
    policy = "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src " + " ".join(image_sources(settings, environ)),
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
            "require-trusted-types-for 'script'",
            "trusted-types 'none'",
        ]
    )
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cache-Control": "no-cache",  # revalidated each time (ETag): an upgrade shows at once
    }


class Console:
    """The console's routes over assets loaded once."""

    def __init__(self, settings: Settings, environ: Mapping[str, str] | None = None) -> None:
        self.assets = load_assets()
        self.headers = security_headers(settings, os.environ if environ is None else environ)
        self.routes = [
            Route("/console", self.index, methods=["GET", "HEAD"]),
            Route("/console/{name}", self.asset, methods=["GET", "HEAD"]),
        ]

    async def index(self, request: Request) -> Response:
        return self._answer(request, "index.html")

    async def asset(self, request: Request) -> Response:
        return self._answer(request, request.path_params["name"])

    def _answer(self, request: Request, name: str) -> Response:
        asset = self.assets.get(name)
        if asset is None:
            raise ApiError(404, "not_found", "no such console file")
        headers = {**self.headers, "ETag": asset.etag}
        if request.headers.get("if-none-match") == asset.etag:
            return Response(status_code=304, headers=headers)
        return Response(asset.body, media_type=asset.content_type, headers=headers)
