"""A fake self-hosted server that speaks OpenAI's images API (LocalAI-style).

Based on OpenAI's Images reference (`POST /v1/images/generations` `{model, prompt, n, size,
response_format}` -> `{"created", "data": [{"url" | "b64_json"}]}`) as self-hosted servers
implement it: LocalAI's image-generation docs (localai.io/features/image-generation: `url`
answers by default, under `/generated-images/`, extra `negative_prompt`, `step` and `seed`
fields, `id` and `usage` in the answer; an optional `API_KEY` makes Bearer auth mandatory)
and text-generation-webui's modules/api/images.py (503 when no image model is loaded).
Errors use the OpenAI shape with an integer `code`, as LocalAI sends them.

`key=None` runs without authentication (the usual setup behind a private network).
Step kinds: ok, error, slow, truncated, html (a URL whose download is HTML), b64 (answer
`b64_json` even when asked for a URL: some servers ignore `response_format`).
"""

from __future__ import annotations

import base64
import time
import uuid
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.script import FakeVendor, Step, pause, payload


def local_error(code: int, message: str, type: str = "") -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "type": type}}


def no_model_loaded() -> dict[str, Any]:
    return local_error(503, "No image model loaded. Load a model via the UI first.", "server_error")


class FakeOpenAICompatible(FakeVendor):
    def __init__(self, key: str | None = None, models: tuple[str, ...] = ("sdxl",)) -> None:
        super().__init__(key or "")
        self.models = models
        self.app = Starlette(
            routes=[
                Route("/v1/images/generations", self.generations, methods=["POST"]),
                Route("/v1/models", self.list_models),
                Route("/generated-images/{name}", self.file),
            ]
        )

    def authorized(self, request: Request) -> bool:
        return not self.key or super().authorized(request)

    async def list_models(self, request: Request) -> Response:
        await self.record(request)
        data = [{"id": model, "object": "model"} for model in self.models]
        return JSONResponse({"object": "list", "data": data})

    async def generations(self, request: Request) -> Response:
        received = await self.record(request)
        if not self.authorized(request):
            return JSONResponse(
                local_error(401, "An authentication key is required", "invalid_request_error"), 401
            )
        body = received.json if isinstance(received.json, dict) else {}
        if body.get("model") not in self.models:
            return JSONResponse(
                local_error(404, f"model {body.get('model')!r} not found", "invalid_request_error"),
                404,
            )
        step = self.next_step()
        if step.kind == "error":
            return JSONResponse(step.body, step.status, headers=dict(step.headers))
        if step.kind == "slow":
            await pause(self, request, step.delay)
        return JSONResponse(
            {
                "created": int(time.time()),
                "id": str(uuid.uuid4()),
                "data": self._items(request, body, step),
                "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
            }
        )

    def _items(self, request: Request, body: dict[str, Any], step: Step) -> list[dict[str, Any]]:
        width, _, height = str(body.get("size", "512x512")).partition("x")
        wants_url = body.get("response_format", "url") == "url" and step.kind != "b64"
        items: list[dict[str, Any]] = []
        for index in range(int(body.get("n", 1))):
            data, media_type = payload(step, int(width), int(height), "png")  # each one differs
            item: dict[str, Any] = {"embedding": None, "index": index}
            if wants_url or step.kind == "html":
                name = f"b64{uuid.uuid4().int % 10**12}.png"
                self.files[name] = (data, media_type)
                item["url"] = f"{request.base_url}generated-images/{name}"
            else:
                item["b64_json"] = base64.b64encode(data).decode()
            items.append(item)
        return items
