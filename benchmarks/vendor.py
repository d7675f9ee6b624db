"""A mock OpenAI Images vendor in its own process: `python -m benchmarks.vendor --port P`.

It speaks OpenAI's wire format for `POST /v1/images/generations` (Bearer auth, 401
`invalid_api_key` otherwise; a 200 answers `{"created", "data": [{"b64_json"}], "usage"}`
as gpt-image models do) with one image encoded once at start-up, so the mock spends as
little CPU per call as possible: the benchmark measures the gateways, not the vendor.
`--delay` holds each answer that long (a vendor's render time, without CPU).

Images: `1x1` (the smallest PNG: the gateway's own path dominates) or `1024` (a real
1024x1024 PNG, about 1 MB: a blurred-noise picture over gradients, which compresses like a
photograph rather than like a flat colour).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import time
from typing import Any

import uvicorn
from PIL import Image, ImageChops, ImageFilter

KEY = "sk-bench-mock-vendor"
PATH = "/v1/images/generations"
INVALID = "invalid_request_error"


def picture(kind: str) -> bytes:
    """The PNG the vendor answers with: `1x1` or `1024` (deterministic bytes)."""
    if kind == "1x1":
        image = Image.new("RGB", (1, 1), (200, 120, 40))
    else:
        side = int(kind)
        noise = Image.effect_noise((side, side), 64).filter(ImageFilter.GaussianBlur(1.2))
        radial = Image.radial_gradient("L").resize((side, side))
        linear = Image.linear_gradient("L").resize((side, side))
        image = Image.merge(
            "RGB",
            (
                ImageChops.add(noise, radial, 2, 0),
                ImageChops.add(noise, linear, 2, 0),
                ImageChops.blend(radial, linear, 0.5),
            ),
        )
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _error(status: int, message: str, code: str, kind: str) -> tuple[int, bytes]:
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return status, json.dumps(body).encode()


class MockVendor:
    """The ASGI app (plain ASGI: Starlette's routing would be CPU the vendor spends)."""

    def __init__(self, image: bytes, delay: float) -> None:
        self.delay = delay
        self.item = {"b64_json": base64.b64encode(image).decode()}
        self.answers: dict[int, bytes] = {}  # n -> the encoded 200 body (created aside)

    def answer(self, n: int) -> bytes:
        if n not in self.answers:
            usage = {
                "input_tokens": 8,
                "input_tokens_details": {"text_tokens": 8, "image_tokens": 0},
                "output_tokens": 272 * n,
                "total_tokens": 8 + 272 * n,
            }
            body = {"created": 0, "data": [self.item] * n, "usage": usage}
            self.answers[n] = json.dumps(body, separators=(",", ":")).encode()
        created = str(int(time.time())).encode()
        return self.answers[n].replace(b'"created":0', b'"created":' + created, 1)

    async def respond(self, headers: dict[bytes, bytes], body: bytes) -> tuple[int, bytes]:
        if headers.get(b"authorization") != f"Bearer {KEY}".encode():
            return _error(401, "Incorrect API key provided.", "invalid_api_key", INVALID)
        try:
            request: Any = json.loads(body)
            n = int(request.get("n", 1))
            if not request.get("prompt") or not 1 <= n <= 10:
                raise ValueError
        except (ValueError, TypeError, AttributeError):
            return _error(400, "Invalid request body.", "invalid_value", INVALID)
        if self.delay:
            await asyncio.sleep(self.delay)
        return 200, self.answer(n)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if scope["path"] != PATH or scope["method"] != "POST":
            status, payload = _error(404, "Not found.", "not_found", INVALID)
        else:
            status, payload = await self.respond(dict(scope["headers"]), body)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})


def main(argv: list[str] | None = None) -> None:
    args = argparse.ArgumentParser(prog="python -m benchmarks.vendor")
    args.add_argument("--port", type=int, required=True)
    args.add_argument("--image", default="1x1", choices=["1x1", "1024"])
    args.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    parsed = args.parse_args(argv)
    app = MockVendor(picture(parsed.image), parsed.delay)
    uvicorn.run(app, host="127.0.0.1", port=parsed.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
