"""What every fake vendor shares: a script of answers, a log of requests, real image bytes.

A test queues `Step`s (`fake.will(rate_limited(...), ok())`); each generation request takes
the next one (an empty script means `ok()`). Every request, including file downloads, polls
and cancels, is appended to `fake.received`.
"""

from __future__ import annotations

import asyncio
import io
import time
import uuid
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from PIL import Image
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

HTML = b"<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>"
PIL_FORMATS = {"png": "PNG", "jpeg": "JPEG", "jpg": "JPEG", "webp": "WEBP"}
MEDIA_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "jpg": "image/jpeg", "webp": "image/webp"}


@dataclass(frozen=True)
class Step:
    """One scripted answer.

    kind: ok | error | slow | truncated | html | url | filtered (Stability) |
          failed, stuck, single (Replicate: prediction fails / never finishes / one URL string)
    """

    kind: str = "ok"
    status: int = 200
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    polls: int = 0  # Replicate: "processing" answers before the terminal state
    reason: str = ""  # Replicate: the failed prediction's `error`


def ok(polls: int = 0) -> Step:
    return Step("ok", polls=polls)


def error(status: int, body: Any, **headers: str) -> Step:
    return Step("error", status=status, body=body, headers=headers)


def rate_limited(body: Any, retry_after: str = "2") -> Step:
    return Step("error", status=429, body=body, headers={"Retry-After": retry_after})


def slow(seconds: float) -> Step:
    return Step("slow", delay=seconds)


def truncated() -> Step:
    return Step("truncated")


def html() -> Step:
    return Step("html")


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: Mapping[str, str]  # lower-case names
    json: Any
    form: Mapping[str, str]  # a multipart body's text fields
    at: float  # time.monotonic()
    files: Mapping[str, list[bytes]] = field(default_factory=dict)  # its file parts, by name


def png(width: int, height: int, output_format: str = "png") -> bytes:
    """A real, incompressible picture (noise), so a truncated copy cannot decode."""
    image = Image.effect_noise((width, height), 80).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, format=PIL_FORMATS[output_format])
    return buffer.getvalue()


def payload(step: Step, width: int, height: int, output_format: str = "png") -> tuple[bytes, str]:
    """The bytes a successful-looking answer carries under `step` (and their media type)."""
    if step.kind == "html":
        return HTML, "text/html"
    data = png(width, height, output_format)
    if step.kind == "truncated":
        return data[: len(data) // 2], MEDIA_TYPES[output_format]
    return data, MEDIA_TYPES[output_format]


class FakeVendor:
    """Script, request log, auth check and a `/files/{name}` store for URL-style results."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.script: deque[Step] = deque()
        self.received: list[Received] = []
        self.files: dict[str, tuple[bytes, str]] = {}
        self.base_url = ""  # set by the fixture that runs the app
        self.files_base: str | None = None  # where `store` says files are (else this server)
        self.slow_now = 0  # slow answers in progress, and the most seen at once
        self.slow_peak = 0

    def will(self, *steps: Step) -> None:
        self.script.extend(steps)

    def next_step(self) -> Step:
        return self.script.popleft() if self.script else Step()

    def requests_to(self, path_part: str, method: str = "POST") -> list[Received]:
        return [r for r in self.received if r.method == method and path_part in r.path]

    async def record(self, request: Request) -> Received:
        body = await request.body()
        json: Any = None
        form: dict[str, str] = {}
        files: dict[str, list[bytes]] = {}
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("application/json") and body:
            json = await request.json()
        elif content_type.startswith("multipart/form-data"):
            async with request.form(max_part_size=64 * 1024 * 1024) as parsed:
                for name, value in parsed.multi_items():
                    if isinstance(value, UploadFile):
                        files.setdefault(name, []).append(await value.read())
                    else:
                        form[name] = value
        received = Received(
            request.method,
            request.url.path,
            {name.lower(): value for name, value in request.headers.items()},
            json,
            form,
            time.monotonic(),
            files,
        )
        self.received.append(received)
        return received

    def authorized(self, request: Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {self.key}"

    def store(self, request: Request, data: bytes, media_type: str) -> str:
        """Keep `data` for download; answer a presigned-looking absolute URL."""
        name = uuid.uuid4().hex
        self.files[name] = (data, media_type)
        base = self.files_base or str(request.base_url)
        return f"{base}files/{name}?X-Amz-Expires=3600&X-Amz-Signature=deadbeef"

    async def file(self, request: Request) -> Response:
        await self.record(request)
        data, media_type = self.files.get(request.path_params["name"], (b"", ""))
        if not media_type:
            return Response(b"<Error><Code>NoSuchKey</Code></Error>", 404)
        return Response(data, media_type=media_type)


async def pause(fake: FakeVendor, request: Request, seconds: float) -> None:
    """Sleep like a slow vendor, but stop as soon as the client has hung up."""
    fake.slow_now += 1
    fake.slow_peak = max(fake.slow_peak, fake.slow_now)
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if await request.is_disconnected():
                return
            await asyncio.sleep(0.01)
    finally:
        fake.slow_now -= 1
