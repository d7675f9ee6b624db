"""A fake OpenAI Images API: `POST /v1/images/generations` (+ `/files/{name}` for URL results).

Like the real one: Bearer auth (401 `invalid_api_key` otherwise), dall-e models answer `url`
unless `response_format: "b64_json"`, gpt-image models always answer `b64_json` and reject
`response_format` with 400 `unknown_parameter` and report the `usage` they bill (tokens, as
the Images API answers them: `input_tokens`, `input_tokens_details`, `output_tokens`,
`total_tokens`); errors are `{"error": {message, type, code,
param}}`. Step kinds: ok, error, slow, truncated, html (a URL whose download is HTML), url.
"""

from __future__ import annotations

import base64
import time
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.script import FakeVendor, Step, pause, payload


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


def gpt_image_details(body: dict[str, Any]) -> dict[str, Any]:
    """What gpt-image answers carry besides `data`: the quality and size it used, and the
    token `usage` it bills (input split into text and image tokens, output image tokens).
    `auto` (or no quality) is answered as medium; other sizes are billed like 1024x1024."""
    quality = str(body.get("quality") or "auto")
    used = "medium" if quality == "auto" else quality
    size = str(body.get("size") or "1024x1024")
    per_image = OUTPUT_TOKENS.get(used, OUTPUT_TOKENS["medium"]).get(size, 1056)
    text_tokens = max(1, len(str(body.get("prompt", "")).split()))
    output = per_image * int(body.get("n", 1))
    return {
        "quality": used,
        "size": size,
        "output_format": str(body.get("output_format", "png")),
        "usage": {
            "input_tokens": text_tokens,
            "input_tokens_details": {"text_tokens": text_tokens, "image_tokens": 0},
            "output_tokens": output,
            "total_tokens": text_tokens + output,
        },
    }


class FakeOpenAI(FakeVendor):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.app = Starlette(
            routes=[
                Route("/v1/images/generations", self.generations, methods=["POST"]),
                Route("/files/{name}", self.file),
            ]
        )

    async def generations(self, request: Request) -> Response:
        received = await self.record(request)
        if not self.authorized(request):
            shown = request.headers.get("authorization", "").removeprefix("Bearer ")
            return JSONResponse(
                error_body(
                    f"Incorrect API key provided: {shown}. You can find your API key at "
                    "https://platform.openai.com/account/api-keys.",
                    code="invalid_api_key",
                ),
                401,
            )
        step = self.next_step()
        if step.kind == "error":
            return JSONResponse(step.body, step.status, headers=dict(step.headers))
        if step.kind == "slow":
            await pause(self, request, step.delay)
        body = received.json or {}
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
        answer: dict[str, Any] = {
            "created": int(time.time()),
            "data": self._items(request, body, step),
        }
        if model.startswith("gpt-image"):
            answer.update(gpt_image_details(body))
        return JSONResponse(answer)

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
