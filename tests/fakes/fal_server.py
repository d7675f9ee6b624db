"""A fake fal.ai queue (queue.fal.run): submit, status, result, cancel, CDN files.

Based on the official client, fal-ai/fal projects/fal_client/src/fal_client/client.py
(submit answer `{request_id, response_url, status_url, cancel_url}`, status IN_QUEUE /
IN_PROGRESS / COMPLETED with `queue_position`, `logs`, `metrics`, `error`, `error_type`;
`PUT cancel_url`; errors read from `detail` / `error_type` / `X-Fal-Error-Type`) and fal's
docs: queue/cancel (CANCELLATION_REQUESTED 202, ALREADY_COMPLETED 400, NOT_FOUND 404),
model-apis/errors (422 `{"detail": [{loc, msg, type: "content_policy_violation", ...}]}`),
model-apis/request-errors (`{"detail", "error_type"}` + `X-Fal-Error-Type`, e.g.
runner_scheduling_failure 503), and fal-ai/fal issue #1068 (401 `{"detail": "No user found
for Key ID and Secret"}`).

- `POST /{owner}/{alias}[/{path}]` with `Authorization: Key <id>:<secret>`, JSON input
  (FLUX models: `prompt`, `image_size: {width, height}`, `num_images` 1..4, `seed`,
  `output_format` jpeg|png, `enable_safety_checker`, `negative_prompt` where the model has
  one). Request URLs leave the subpath out: `/{owner}/{alias}/requests/{id}[/status|/cancel]`.
- The result: `{"images": [{url, width, height, content_type}], "seed", "has_nsfw_concepts",
  "timings", "prompt"}`; with the safety checker on, a flagged image comes back black and
  `has_nsfw_concepts` says which. A result asked for too early answers 400.

Step kinds: ok(polls), error (at submit), slow, truncated, html, failed (runner error:
COMPLETED with `error`, the result answers 500 runner_server_error), refused (422
content_policy_violation from the result), nsfw (first image flagged), stuck.
"""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass
from typing import Any

from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.script import MEDIA_TYPES, FakeVendor, Step, pause, payload

NAMED_SIZES = {
    "square_hd": (1024, 1024), "square": (512, 512), "portrait_4_3": (768, 1024),
    "portrait_16_9": (576, 1024), "landscape_4_3": (1024, 768), "landscape_16_9": (1024, 576),
}  # fmt: skip


def no_user() -> dict[str, Any]:
    return {"detail": "No user found for Key ID and Secret"}


def request_error(detail: str, error_type: str) -> dict[str, Any]:
    """A request (infrastructure) error; the same type goes in `X-Fal-Error-Type`."""
    return {"detail": detail, "error_type": error_type}


def content_policy(prompt: str) -> list[dict[str, Any]]:
    return [
        {
            "loc": ["body", "prompt"],
            "msg": "The content was flagged by a content checker.",
            "type": "content_policy_violation",
            "url": "https://docs.fal.ai/errors#content_policy_violation",
            "input": prompt,
            "categories": ["sexual"],
        }
    ]


@dataclass
class QueuedRequest:
    id: str
    app: str
    input: dict[str, Any]
    step: Step
    polls_left: int
    status: str = "IN_QUEUE"


class FakeFal(FakeVendor):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.requests: dict[str, QueuedRequest] = {}
        self.app = Starlette(
            routes=[
                Route("/files/{name}", self.file),
                Route("/{owner}/{alias}/requests/{id}/status", self.status),
                Route("/{owner}/{alias}/requests/{id}/cancel", self.cancel, methods=["PUT"]),
                Route("/{owner}/{alias}/requests/{id}", self.result),
                Route("/{owner}/{alias}/{path:path}", self.submit, methods=["POST"]),
                Route("/{owner}/{alias}", self.submit, methods=["POST"]),
            ]
        )

    def authorized(self, request: Request) -> bool:
        return request.headers.get("authorization") == f"Key {self.key}"

    async def submit(self, request: Request) -> Response:
        received = await self.record(request)
        if not self.authorized(request):
            return JSONResponse(no_user(), 401)
        step = self.next_step()
        if step.kind == "error":
            return JSONResponse(step.body, step.status, headers=dict(step.headers))
        if step.kind == "slow":
            await pause(self, request, step.delay)
        app = f"{request.path_params['owner']}/{request.path_params['alias']}"
        queued = QueuedRequest(uuid.uuid4().hex, app, received.json or {}, step, step.polls)
        self.requests[queued.id] = queued
        base = f"{request.base_url}{app}/requests/{queued.id}"
        return JSONResponse(
            {
                "request_id": queued.id,
                "response_url": base,
                "status_url": f"{base}/status",
                "cancel_url": f"{base}/cancel",
                "queue_position": 0,
            }
        )

    async def status(self, request: Request) -> Response:
        found = await self._find(request)
        if not isinstance(found, QueuedRequest):
            return found
        self._advance(found)
        response_url = str(request.url).split("/status")[0]
        body: dict[str, Any] = {"status": found.status, "response_url": response_url}
        if found.status == "IN_QUEUE":
            return JSONResponse({**body, "queue_position": 0}, 202)
        logs = [{"message": "generating", "level": "INFO", "source": "user"}]
        if found.status == "IN_PROGRESS":
            return JSONResponse({**body, "logs": logs}, 202)
        body.update(logs=logs, metrics={"inference_time": 0.42})
        if found.step.kind == "failed":
            body.update(error=found.step.reason or "Internal server error", error_type="runner")
        return JSONResponse(body)

    async def result(self, request: Request) -> Response:
        found = await self._find(request)
        if not isinstance(found, QueuedRequest):
            return found
        if found.status == "CANCELLED":
            return JSONResponse(request_error("Request was cancelled", "client_cancelled"), 499)
        if found.status != "COMPLETED":
            return JSONResponse({"detail": "Request is still in progress"}, 400)
        kind = found.step.kind
        if kind == "failed":
            reason = found.step.reason or "Internal server error"
            headers = {"X-Fal-Error-Type": "runner_server_error"}
            return JSONResponse(request_error(reason, "runner_server_error"), 500, headers=headers)
        if kind == "refused":
            prompt = str(found.input.get("prompt", ""))
            return JSONResponse({"detail": content_policy(prompt)}, 422)
        return JSONResponse(self._output(request, found))

    async def cancel(self, request: Request) -> Response:
        found = await self._find(request)
        if not isinstance(found, QueuedRequest):
            return JSONResponse({"status": "NOT_FOUND"}, 404)
        if found.status == "COMPLETED":
            return JSONResponse({"status": "ALREADY_COMPLETED"}, 400)
        found.status = "CANCELLED"
        return JSONResponse({"status": "CANCELLATION_REQUESTED"}, 202)

    async def _find(self, request: Request) -> QueuedRequest | Response:
        await self.record(request)
        if not self.authorized(request):
            return JSONResponse(no_user(), 401)
        found = self.requests.get(request.path_params["id"])
        if found is None:
            return JSONResponse({"detail": "Request not found"}, 404)
        return found

    def _advance(self, queued: QueuedRequest) -> None:
        if queued.status in ("COMPLETED", "CANCELLED"):
            return
        if queued.polls_left > 0 or queued.step.kind == "stuck":
            queued.polls_left -= 1
            queued.status = "IN_PROGRESS" if queued.status == "IN_QUEUE" else queued.status
            return
        queued.status = "COMPLETED"

    def _output(self, request: Request, queued: QueuedRequest) -> dict[str, Any]:
        width, height = _size(queued.input.get("image_size", "landscape_4_3"))
        fmt = str(queued.input.get("output_format", "jpeg"))
        count = int(queued.input.get("num_images", 1))
        flagged = [queued.step.kind == "nsfw" and index == 0 for index in range(count)]
        images = []
        for black in flagged:
            data, media_type = (
                (_black(width, height, fmt), MEDIA_TYPES[fmt])
                if black
                else payload(queued.step, width, height, fmt)
            )
            url = self.store(request, data, media_type).split("?")[0]  # fal CDN: public URLs
            images.append(
                {"url": url, "width": width, "height": height, "content_type": media_type}
            )
        return {
            "images": images,
            "timings": {"inference": 0.42},
            "seed": queued.input.get("seed", 42),
            "has_nsfw_concepts": flagged,
            "prompt": queued.input.get("prompt"),
        }


def _size(image_size: Any) -> tuple[int, int]:
    if isinstance(image_size, dict):
        return int(image_size.get("width", 512)), int(image_size.get("height", 512))
    return NAMED_SIZES.get(str(image_size), NAMED_SIZES["landscape_4_3"])


def _black(width: int, height: int, fmt: str) -> bytes:
    """What fal's safety checker puts in place of a flagged image."""
    buffer = io.BytesIO()
    Image.new("RGB", (width, height)).save(buffer, format="PNG" if fmt == "png" else "JPEG")
    return buffer.getvalue()
