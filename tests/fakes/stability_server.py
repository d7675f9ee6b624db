"""A fake Stability AI Stable Image API: `POST /v2beta/stable-image/generate/{core|ultra|sd3}`.

Like the real one: multipart/form-data in, Bearer auth, `Accept: image/*` -> raw image bytes
with `finish-reason` and `seed` headers; errors are `{"id", "name", "errors": [...]}`. It picks
its own pixel size from `aspect_ratio` (as the vendor does), so the backend must fit it.
Step kinds: ok, error, slow, truncated, html, filtered (finish-reason CONTENT_FILTERED).
Edits: `POST /v2beta/stable-image/edit/inpaint` (`image`, optional `mask`) and `mode:
image-to-image` (`image`, `strength`) on ultra and sd3; they answer the input's size.
"""

from __future__ import annotations

import io
import math
import uuid
from typing import Any

from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.script import FakeVendor, Received, pause, payload

AREA = 96 * 96  # small pictures keep the tests fast; the ratio is what matters


def error_body(name: str, *errors: str) -> dict[str, Any]:
    return {"id": uuid.uuid4().hex, "name": name, "errors": list(errors)}


def moderation() -> dict[str, Any]:
    return error_body(
        "content_moderation",
        "Your request was flagged by our content moderation system, as a result your request "
        "was denied and you were not charged.",
    )


def size_for(aspect_ratio: str) -> tuple[int, int]:
    w, _, h = aspect_ratio.partition(":")
    ratio = int(w) / int(h)
    return round(math.sqrt(AREA * ratio)), round(math.sqrt(AREA / ratio))


class FakeStability(FakeVendor):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.app = Starlette(
            routes=[
                Route("/v2beta/stable-image/generate/{service}", self.generate, methods=["POST"]),
                Route("/v2beta/stable-image/edit/inpaint", self.inpaint, methods=["POST"]),
            ]
        )

    async def generate(self, request: Request) -> Response:
        received = await self.record(request)
        if not self.authorized(request):
            return JSONResponse(
                error_body("unauthorized", "authorization: invalid or missing API key"), 401
            )
        if request.path_params["service"] not in ("core", "ultra", "sd3"):
            return JSONResponse(error_body("not_found", "unknown service"), 404)
        if not received.form.get("prompt"):
            return JSONResponse(error_body("bad_request", "prompt: cannot be empty"), 400)
        size = size_for(received.form.get("aspect_ratio", "1:1"))
        if received.form.get("mode") == "image-to-image":
            if request.path_params["service"] == "core":
                unsupported = error_body("bad_request", "mode: core has no image-to-image")
                return JSONResponse(unsupported, 400)
            strength = received.form.get("strength", "")
            if not strength or not 0 <= float(strength) <= 1:
                return JSONResponse(
                    error_body("bad_request", "strength: required for image-to-image, 0 to 1"), 400
                )
            found = input_size(received, "image")
            if isinstance(found, Response):
                return found
            size = found
        return await self.answer(request, received, size)

    async def inpaint(self, request: Request) -> Response:
        """`image` (its alpha is the mask when no `mask` is sent), `mask` (white = paint)."""
        received = await self.record(request)
        if not self.authorized(request):
            return JSONResponse(
                error_body("unauthorized", "authorization: invalid or missing API key"), 401
            )
        if not received.form.get("prompt"):
            return JSONResponse(error_body("bad_request", "prompt: cannot be empty"), 400)
        size = input_size(received, "image")
        if isinstance(size, Response):
            return size
        if received.files.get("mask"):
            mask = input_size(received, "mask")
            if isinstance(mask, Response):
                return mask
            if mask != size:
                return JSONResponse(
                    error_body("bad_request", "mask: must have the same dimensions as image"), 400
                )
        return await self.answer(request, received, size)

    async def answer(self, request: Request, received: Received, size: tuple[int, int]) -> Response:
        step = self.next_step()
        if step.kind == "error":
            return JSONResponse(step.body, step.status, headers=dict(step.headers))
        if step.kind == "slow":
            await pause(self, request, step.delay)
        width, height = size
        fmt = received.form.get("output_format", "png")
        data, media_type = payload(step, width, height, fmt)
        reason = "CONTENT_FILTERED" if step.kind == "filtered" else "SUCCESS"
        headers = {"finish-reason": reason, "seed": received.form.get("seed", "12345")}
        return Response(data, media_type=media_type, headers=headers)


def input_size(received: Received, name: str) -> tuple[int, int] | Response:
    """The pixel size of file part `name`, or the 400 Stability answers without a usable one."""
    parts = received.files.get(name) or []
    if not parts:
        return JSONResponse(error_body("bad_request", f"{name}: is required"), 400)
    try:
        with Image.open(io.BytesIO(parts[0])) as image:
            image.load()
            return image.size
    except (OSError, SyntaxError, ValueError):
        return JSONResponse(error_body("bad_request", f"{name}: is not a valid image"), 400)
