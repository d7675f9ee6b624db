"""A fake Black Forest Labs FLUX API: submit, poll `polling_url`, download `result.sample`.

Based on BFL's own integration guide and clients (github.com/black-forest-labs/skills:
skills/bfl-api/SKILL.md, references/endpoints.md, rate-limiting.md,
code-examples/python-client.py) and the status enum BFL's ComfyUI nodes and SDKs share
("Task not found", "Pending", "Request Moderated", "Content Moderated", "Ready", "Error").

- `POST /v1/{model}` (e.g. `flux-pro-1.1`) with header `x-key`, JSON `{prompt, width, height,
  seed, output_format ("jpeg" default | "png"), safety_tolerance, ...}` -> `{"id",
  "polling_url"}`. No `n` field: one image per task. Width and height must be multiples of 16
  (64..4 MP), else 422 with FastAPI's `{"detail": [{loc, msg, type}]}`. Unknown model: 404.
- `GET /v1/get_result?id=...` (the `polling_url`, also `x-key`) -> `{"id", "status",
  "result", ...}`; `Ready` carries `result.sample`, a signed delivery URL that expires
  (`url_ttl`, 10 minutes like BFL's); an expired signature answers 403 with the blob store's
  XML error. `Error` carries `error`; the moderated statuses carry `details`.
- Errors: 401 `{"detail": "Not authenticated"}` for a missing or wrong key; 402 (credits),
  429 (active-task limit, with Retry-After) and 5xx are scripted with `error(...)`.

Step kinds: ok, error, slow, truncated, html, request_moderated, content_moderated,
failed (status Error, `reason`), stuck (Pending forever), expired (sample URL already
expired), lost (status "Task not found").
"""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.script import FakeVendor, Step, pause, payload

MODELS = frozenset(
    {"flux-pro-1.1", "flux-pro-1.1-ultra", "flux-dev", "flux-kontext-pro", "flux-2-pro"}
)
FORMATS = frozenset({"jpeg", "png"})
# Step kind -> (status, reason): the prompt refused up front, or the output withheld.
MODERATED = {
    "request_moderated": ("Request Moderated", "Derivative Works Filter"),
    "content_moderated": ("Content Moderated", "NSFW"),
}
SIGNING_KEY = b"fake-bfl-delivery"
EXPIRED_XML = (
    b'<?xml version="1.0" encoding="utf-8"?><Error><Code>AuthenticationFailed</Code>'
    b"<Message>Server failed to authenticate the request. Signed expiry time has passed."
    b"</Message></Error>"
)


def not_authenticated() -> dict[str, Any]:
    return {"detail": "Not authenticated"}


def insufficient_credits() -> dict[str, Any]:
    return {"detail": "Insufficient credits. Please add credits to your account."}


def too_many_tasks() -> dict[str, Any]:
    return {"detail": "You have exceeded the number of active tasks. Please wait and retry."}


def invalid(loc: str, msg: str, value: Any) -> dict[str, Any]:
    """FastAPI's 422 body, as BFL's API (a FastAPI app) answers it."""
    return {"detail": [{"type": "value_error", "loc": ["body", loc], "msg": msg, "input": value}]}


@dataclass
class Task:
    id: str
    model: str
    body: dict[str, Any]
    step: Step
    polls_left: int
    sample: str = ""


class FakeBFL(FakeVendor):
    def __init__(self, key: str, url_ttl: float = 600.0) -> None:
        super().__init__(key)
        self.url_ttl = url_ttl
        self.tasks: dict[str, Task] = {}
        self.app = Starlette(
            routes=[
                Route("/v1/get_result", self.get_result),
                Route("/v1/{model}", self.submit, methods=["POST"]),
                Route("/delivery/{name}", self.delivery),
            ]
        )

    def authorized(self, request: Request) -> bool:
        return request.headers.get("x-key") == self.key

    async def submit(self, request: Request) -> Response:
        received = await self.record(request)
        if not self.authorized(request):
            return JSONResponse(not_authenticated(), 401)
        model = request.path_params["model"]
        if model not in MODELS:
            return JSONResponse({"detail": "Not Found"}, 404)
        body = received.json or {}
        problem = _validate(body)
        if problem:
            return JSONResponse(problem, 422)
        step = self.next_step()
        if step.kind == "error":
            return JSONResponse(step.body, step.status, headers=dict(step.headers))
        if step.kind == "slow":
            await pause(self, request, step.delay)
        task = Task(uuid.uuid4().hex, model, body, step, step.polls)
        self.tasks[task.id] = task
        polling_url = f"{request.base_url}v1/get_result?id={task.id}"
        return JSONResponse({"id": task.id, "polling_url": polling_url})

    async def get_result(self, request: Request) -> Response:
        await self.record(request)
        if not self.authorized(request):
            return JSONResponse(not_authenticated(), 401)
        task_id = request.query_params.get("id", "")
        task = self.tasks.get(task_id)
        if task is None or task.step.kind == "lost":
            return JSONResponse({"id": task_id, "status": "Task not found", "result": None})
        return JSONResponse({"id": task.id, **self._observe(request, task)})

    def _observe(self, request: Request, task: Task) -> dict[str, Any]:
        kind = task.step.kind
        if task.polls_left > 0 or kind == "stuck":
            task.polls_left -= 1
            return {"status": "Pending", "result": None, "progress": 0.5}
        if kind == "failed":
            return {"status": "Error", "result": None, "error": task.step.reason or "Failed"}
        if kind in MODERATED:
            status, reason = MODERATED[kind]
            return {"status": status, "result": None, "details": {"Moderation Reasons": [reason]}}
        if not task.sample:
            task.sample = self._deliver(request, task)
        result = {
            "sample": task.sample,
            "prompt": task.body.get("prompt"),
            "seed": task.body.get("seed", 1234),
            "start_time": time.time() - 1,
            "end_time": time.time(),
            "duration": 1.0,
        }
        return {"status": "Ready", "result": result}

    def _deliver(self, request: Request, task: Task) -> str:
        """Store the picture; answer a signed URL on the delivery path (`se` = expiry)."""
        fmt = str(task.body.get("output_format", "jpeg"))
        width, height = int(task.body.get("width", 1024)), int(task.body.get("height", 768))
        data, media_type = payload(task.step, width, height, fmt)
        name = f"{task.id}.{'jpg' if fmt == 'jpeg' else fmt}"
        self.files[name] = (data, media_type)
        expires = int(time.time() + (-1 if task.step.kind == "expired" else self.url_ttl))
        return f"{request.base_url}delivery/{name}?se={expires}&sig={_sign(name, expires)}"

    async def delivery(self, request: Request) -> Response:
        await self.record(request)
        name = request.path_params["name"]
        expires = request.query_params.get("se", "0")
        signed = hmac.compare_digest(request.query_params.get("sig", ""), _sign(name, expires))
        if not signed or int(expires) < time.time():
            return Response(EXPIRED_XML, 403, media_type="application/xml")
        data, media_type = self.files.get(name, (b"", ""))
        if not media_type:
            return Response(b"<Error><Code>BlobNotFound</Code></Error>", 404)
        return Response(data, media_type=media_type)


def _sign(name: str, expires: int | str) -> str:
    return hmac.new(SIGNING_KEY, f"{name}:{expires}".encode(), hashlib.sha256).hexdigest()


def _validate(body: dict[str, Any]) -> dict[str, Any] | None:
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt:
        return invalid("prompt", "Field required", prompt)
    for side in ("width", "height"):
        value = body.get(side, 1024)
        if not isinstance(value, int) or value < 64 or value % 16:
            return invalid(side, "Value must be a multiple of 16 and at least 64", value)
    if int(body.get("width", 1024)) * int(body.get("height", 768)) > 4_000_000:
        return invalid("width", "Total pixels must not exceed 4 megapixels", body.get("width"))
    fmt = body.get("output_format", "jpeg")
    if fmt not in FORMATS:
        return invalid("output_format", "Input should be 'jpeg' or 'png'", fmt)
    return None
