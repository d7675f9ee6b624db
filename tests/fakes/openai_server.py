"""A fake OpenAI Images API: `POST /v1/images/generations`, `/edits` and `/variations`
(multipart, inputs checked as OpenAI checks them), and `/files/{name}` for URL results.
GPT image models asked for `stream: true` answer `text/event-stream` as OpenAI does:
`partial_images` `*.partial_image` events, then `*.completed` (`image_edit.*` for edits).

Like the real one: Bearer auth (401 `invalid_api_key` otherwise), dall-e models answer `url`
unless `response_format: "b64_json"`, gpt-image models always answer `b64_json` and reject
`response_format` with 400 `unknown_parameter` and report the `usage` they bill (tokens, as
the Images API answers them: `input_tokens`, `input_tokens_details`, `output_tokens`,
`total_tokens`); errors are `{"error": {message, type, code,
param}}`. Step kinds: ok, error, slow, truncated, html (a URL whose download is HTML), url,
broken (a stream that ends with an error event), raw (`body`: the answer's bytes, as JSON).
"""

from __future__ import annotations

import base64
import io
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.fakes.script import FakeVendor, Received, Step, pause, payload


def error_body(
    message: str, type: str = "invalid_request_error", code: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "param": None, "code": code}}


def content_policy() -> dict[str, Any]:
    return error_body(
        "Your request was rejected as a result of our safety system.",
        code="content_policy_violation",
    )


# Image output tokens per image, from OpenAI's gpt-image-1 cost table (quality x size).
OUTPUT_TOKENS = {
    "low": {"1024x1024": 272, "1024x1536": 408, "1536x1024": 400},
    "medium": {"1024x1024": 1056, "1024x1536": 1584, "1536x1024": 1568},
    "high": {"1024x1024": 4160, "1024x1536": 6240, "1536x1024": 6208},
}


def gpt_image_details(body: dict[str, Any], inputs: Received | None = None) -> dict[str, Any]:
    """What gpt-image answers carry besides `data`: the quality and size it used, and the
    token `usage` it bills (input split into text and image tokens, output image tokens).
    `auto` (or no quality) is answered as medium; other sizes are billed like 1024x1024."""
    quality = str(body.get("quality") or "auto")
    used = "medium" if quality == "auto" else quality
    size = str(body.get("size") or "1024x1024")
    per_image = OUTPUT_TOKENS.get(used, OUTPUT_TOKENS["medium"]).get(size, 1056)
    text_tokens = max(1, len(str(body.get("prompt", "")).split()))
    output = per_image * int(body.get("n", 1))
    # An edit bills its input images too (a fixed 323 tokens each here, as for a small image).
    image_tokens = 323 * len(input_parts(inputs)) if inputs else 0
    return {
        "quality": used,
        "size": size,
        "output_format": str(body.get("output_format", "png")),
        "usage": {
            "input_tokens": text_tokens + image_tokens,
            "input_tokens_details": {"text_tokens": text_tokens, "image_tokens": image_tokens},
            "output_tokens": output,
            "total_tokens": text_tokens + image_tokens + output,
        },
    }


class FakeOpenAI(FakeVendor):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.partials_sent = 0  # partial image events streamed so far
        self.app = Starlette(
            routes=[
                Route("/v1/images/generations", self.generations, methods=["POST"]),
                Route("/v1/images/edits", self.edits, methods=["POST"]),
                Route("/v1/images/variations", self.variations, methods=["POST"]),
                Route("/files/{name}", self.file),
            ]
        )

    def unauthorized(self, request: Request) -> Response | None:
        if self.authorized(request):
            return None
        shown = request.headers.get("authorization", "").removeprefix("Bearer ")
        return JSONResponse(
            error_body(
                f"Incorrect API key provided: {shown}. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
                code="invalid_api_key",
            ),
            401,
        )

    async def generations(self, request: Request) -> Response:
        received = await self.record(request)
        refused = self.unauthorized(request)
        if refused is not None:
            return refused
        return await self.answer(request, received.json or {})

    async def edits(self, request: Request) -> Response:
        """Multipart: `image` (one file) or repeated `image[]`, optional `mask`, text fields."""
        received = await self.record(request)
        refused = self.unauthorized(request) or multipart_problem(received, "edits")
        if refused is not None:
            return refused
        return await self.answer(request, form_body(received), input_images=received)

    async def variations(self, request: Request) -> Response:
        """dall-e-2 only: one square `image` file, no prompt."""
        received = await self.record(request)
        refused = self.unauthorized(request) or multipart_problem(received, "variations")
        if refused is not None:
            return refused
        return await self.answer(request, form_body(received))

    async def answer(
        self, request: Request, body: dict[str, Any], input_images: Received | None = None
    ) -> Response:
        step = self.next_step()
        if step.kind == "error":
            return JSONResponse(step.body, step.status, headers=dict(step.headers))
        if step.kind == "raw":
            return Response(step.body, step.status, media_type="application/json")
        if step.kind == "slow":
            await pause(self, request, step.delay)
        model = str(body.get("model", "dall-e-2"))
        if model.startswith("gpt-image") and "response_format" in body:
            return JSONResponse(
                {
                    "error": {
                        "message": "Unknown parameter: 'response_format'.",
                        "type": "invalid_request_error",
                        "param": "response_format",
                        "code": "unknown_parameter",
                    }
                },
                400,
            )
        if model.startswith("gpt-image") and body.get("stream") in (True, "true"):
            prefix = "image_edit" if input_images is not None else "image_generation"
            events = self._events(body, step, prefix, input_images)
            return StreamingResponse(events, media_type="text/event-stream")
        answer: dict[str, Any] = {
            "created": int(time.time()),
            "data": self._items(request, body, step),
        }
        if model.startswith("gpt-image"):
            answer.update(gpt_image_details(body, input_images))
        return JSONResponse(answer)

    async def _events(
        self, body: dict[str, Any], step: Step, prefix: str, inputs: Received | None
    ) -> AsyncIterator[bytes]:
        """As OpenAI streams: `partial_images` partial events, then the completed one (step
        `broken`: an error event after the partials instead)."""
        width, _, height = str(body.get("size", "1024x1024")).partition("x")
        fmt = str(body.get("output_format", "png"))
        details = gpt_image_details(body, inputs)
        common = {
            "created_at": int(time.time()),
            "size": details["size"],
            "quality": details["quality"],
            "background": "opaque",
            "output_format": details["output_format"],
        }
        for index in range(int(body.get("partial_images", 0))):
            data, _ = payload(Step(), int(width) // 4, int(height) // 4, fmt)  # a rough draft
            event = {"type": f"{prefix}.partial_image", "b64_json": base64.b64encode(data).decode(),
                     "partial_image_index": index, **common}  # fmt: skip
            yield sse(event)
            self.partials_sent += 1
        if step.kind == "broken":
            failed = error_body("The image could not be generated.", "server_error")
            yield sse({"type": "error", **failed}, "error")
            return
        data, _ = payload(step, int(width), int(height), fmt)
        event = {"type": f"{prefix}.completed", "b64_json": base64.b64encode(data).decode(),
                 "usage": details["usage"], **common}  # fmt: skip
        yield sse(event)

    def _items(self, request: Request, body: dict[str, Any], step: Step) -> list[dict[str, str]]:
        width, _, height = str(body.get("size", "1024x1024")).partition("x")
        fmt = str(body.get("output_format", "png"))
        model = str(body.get("model", "dall-e-2"))
        wants_url = model.startswith("dall-e") and body.get("response_format", "url") == "url"
        items: list[dict[str, str]] = []
        for _ in range(int(body.get("n", 1))):
            data, media_type = payload(step, int(width), int(height), fmt)  # each one differs
            if wants_url or step.kind in ("url", "html"):
                items.append({"url": self.store(request, data, media_type)})
            else:
                items.append({"b64_json": base64.b64encode(data).decode()})
        return items


def sse(event: dict[str, Any], name: str | None = None) -> bytes:
    return f"event: {name or event['type']}\ndata: {json.dumps(event)}\n\n".encode()


def input_parts(received: Received) -> list[bytes]:
    """The input images, as the SDK sends them: one `image` part or repeated `image[]`."""
    return [*received.files.get("image", []), *received.files.get("image[]", [])]


def form_body(received: Received) -> dict[str, Any]:
    """A multipart request's text fields as the JSON body they stand for."""
    body: dict[str, Any] = dict(received.form)
    for name in ("n", "partial_images"):
        if name in body:
            body[name] = int(body[name])
    return body


def _decoded(data: bytes) -> Image.Image | None:
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
        return image
    except (OSError, SyntaxError, ValueError):
        return None


MISSING = "missing_required_parameter"


def invalid(message: str, param: str, code: str | None = "invalid_image_file") -> Response:
    body = {
        "error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}
    }
    return JSONResponse(body, 400)


def multipart_problem(received: Received, endpoint: str) -> Response | None:
    """The 400 OpenAI answers for inputs it cannot use, or None."""
    if not received.headers.get("content-type", "").startswith("multipart/form-data"):
        return invalid("Invalid Content-Type header, expected multipart/form-data.", "", None)
    model = received.form.get("model", "dall-e-2")
    images = input_parts(received)
    if not images:
        return invalid("Missing required parameter: 'image'.", "image", MISSING)
    if endpoint == "variations" and (len(images) != 1 or "prompt" in received.form):
        return invalid("Variations take exactly one image and no prompt.", "image")
    if endpoint == "edits" and not received.form.get("prompt"):
        return invalid("Missing required parameter: 'prompt'.", "prompt", MISSING)
    if model.startswith("dall-e") and len(images) > 1:
        return invalid(f"{model} takes one image.", "image")
    if len(images) > 16:
        return invalid("Too many images: at most 16.", "image")
    decoded = [_decoded(data) for data in images]
    for index, image in enumerate(decoded):
        if image is None:
            return invalid(f"Invalid image file or mode for image {index + 1}.", "image")
    first = decoded[0]
    assert first is not None
    masks = received.files.get("mask", [])
    if masks:
        mask = _decoded(masks[0])
        if mask is None or "A" not in mask.getbands():
            return invalid("Invalid mask image: it must be a PNG with an alpha channel.", "mask")
        if mask.size != first.size:
            return invalid("Invalid mask image: its size does not match the image.", "mask")
    return None
