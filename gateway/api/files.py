"""Image bytes behind HMAC-signed, expiring URLs: `GET /files/{key}?exp=...&sig=...`."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.errors import ApiError
from gateway.services import Gateway
from gateway.storage.images import IMAGE_KEY


async def get_file(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    key = request.path_params["key"]
    expires = request.query_params.get("exp", "")
    signature = request.query_params.get("sig", "")
    if not gateway.signer.verify(key, expires, signature):
        raise ApiError(403, "forbidden", "the file URL's signature is invalid or has expired")
    # Only content-addressed keys are ever signed; any other shape (`..`, NUL, another
    # prefix) never reaches the object store.
    found = await gateway.images.get(key) if IMAGE_KEY.fullmatch(key) else None
    if found is None:
        raise ApiError(404, "not_found", "no such file")
    max_age = max(0, int(expires) - int(time.time()))
    return Response(
        found.data,
        media_type=found.media_type,
        headers={"Cache-Control": f"private, max-age={max_age}"},
    )


routes = [Route("/files/{key:path}", get_file, methods=["GET", "HEAD"])]
