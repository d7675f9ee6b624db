"""The response envelope and the JSON body reader shared by every surface."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse

from gateway.api.json_body import decode_json
from gateway.errors import ApiError


class FastJSONResponse(JSONResponse):
    """Starlette's JSONResponse rendered by orjson (the same compact UTF-8 bytes, several
    times faster on a job document); what orjson refuses goes to the standard encoder."""

    def render(self, content: Any) -> bytes:
        try:
            return orjson.dumps(content)
        except TypeError:
            return super().render(content)


def ok(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return FastJSONResponse({"ok": True, "data": data}, status_code=status, headers=headers)


def failure(error: ApiError) -> JSONResponse:
    return FastJSONResponse(
        {"ok": False, "error": {"code": error.code, "message": error.message}},
        status_code=error.status,
        headers=error.headers,
    )


async def read_json(request: Request, max_bytes: int) -> Any:
    """The decoded JSON body; 415 for another content type, 413 past `max_bytes`."""
    return decode_json(await read_json_bytes(request, max_bytes))


async def read_json_bytes(request: Request, max_bytes: int) -> bytes:
    """The raw body of a JSON request (415 for another content type, 413 past `max_bytes`)."""
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise ApiError(415, "invalid_request", "Content-Type must be application/json")
    return await read_body(request, max_bytes)


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The raw body, read no further than `max_bytes` (413 past it)."""
    declared = request.headers.get("content-length", "")
    if (
        declared.isascii()
        and declared.isdigit()
        and (len(declared) > 18 or int(declared) > max_bytes)
    ):
        raise _too_large(max_bytes)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise _too_large(max_bytes)
    return bytes(body)


def _too_large(max_bytes: int) -> ApiError:
    return ApiError(413, "payload_too_large", f"the body is larger than {max_bytes} bytes")
