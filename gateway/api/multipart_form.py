"""A `multipart/form-data` body, read no further than a byte limit: fields and file parts.

Starlette's parser does the parsing; this bounds the stream it reads (413 past the limit),
turns its errors into 400s, and hands back plain values: one string per field (a repeated
field is refused) and the file parts in the order they came, as (name, bytes).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass

from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from gateway.errors import ApiError, invalid_request

MAX_FIELDS = 64
MAX_FILES = 32  # 16 images and a mask, with room for a clear "too many images" message
MAX_FIELD_BYTES = 64 * 1024  # a prompt is at most 32000 characters


@dataclass(frozen=True)
class Form:
    fields: dict[str, str]
    files: list[tuple[str, bytes]]


def is_multipart(request: Request) -> bool:
    content_type = request.headers.get("content-type", "")
    return content_type.split(";")[0].strip().lower() == "multipart/form-data"


def _too_large(limit: int) -> ApiError:
    return ApiError(413, "payload_too_large", f"the body is larger than {limit} bytes")


async def _bounded(request: Request, limit: int) -> AsyncGenerator[bytes, None]:
    seen = 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > limit:
            raise _too_large(limit)
        yield chunk


async def read_form(request: Request, limit: int) -> Form:
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and (len(declared) > 18 or int(declared) > limit):
        raise _too_large(limit)
    parser = MultiPartParser(
        request.headers,
        _bounded(request, limit),
        max_files=MAX_FILES,
        max_fields=MAX_FIELDS,
        max_part_size=MAX_FIELD_BYTES,
    )
    try:
        parsed = await parser.parse()
    except MultiPartException as exc:
        raise invalid_request(f"the multipart body cannot be read: {exc}") from None
    fields: dict[str, str] = {}
    files: list[tuple[str, bytes]] = []
    try:
        for name, value in parsed.multi_items():
            if isinstance(value, UploadFile):
                files.append((name, await value.read()))
            elif name in fields:
                raise invalid_request(f"{name!r} is given more than once", name)
            else:
                fields[name] = value
    finally:
        await parsed.close()
    return Form(fields, files)
