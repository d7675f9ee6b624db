"""A fake Replicate predictions API.

`POST /v1/models/{owner}/{name}/predictions`, `POST /v1/predictions` (with `version`),
`GET /v1/predictions/{id}`, `POST /v1/predictions/{id}/cancel`, `GET /files/{name}`.
Like the real one: Bearer auth, predictions `{id, status, output, error, urls: {get, cancel,
web}}`, RFC 7807 error bodies `{"title", "detail", "status"}`. A step with `polls=k` answers
"processing" to k polls before its outcome; `polls=0` answers the outcome at once (sync mode).
Step kinds: ok, error, slow, truncated, html (output files), failed, stuck, single.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.script import FakeVendor, Step, pause, payload

AREA = 96 * 96


def problem(status: int, title: str, detail: str) -> dict[str, Any]:
    return {"title": title, "detail": detail, "status": status}


@dataclass
class Prediction:
    json: dict[str, Any]
    step: Step
    polls_left: int


class FakeReplicate(FakeVendor):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.predictions: dict[str, Prediction] = {}
        self.app = Starlette(
            routes=[
                Route("/v1/models/{owner}/{name}/predictions", self.create, methods=["POST"]),
                Route("/v1/predictions", self.create, methods=["POST"]),
                Route("/v1/predictions/{id}", self.get),
                Route("/v1/predictions/{id}/cancel", self.cancel, methods=["POST"]),
                Route("/files/{name}", self.file),
            ]
        )

    def _unauthorized(self) -> Response:
        return JSONResponse(
            problem(401, "Unauthenticated", "You did not pass a valid authentication token"), 401
        )

    async def create(self, request: Request) -> Response:
        received = await self.record(request)
        if not self.authorized(request):
            return self._unauthorized()
        step = self.next_step()
        if step.kind == "error":
            return JSONResponse(step.body, step.status, headers=dict(step.headers))
        if step.kind == "slow":
            await pause(self, request, step.delay)
        body = received.json or {}
        params = request.path_params
        model = f"{params['owner']}/{params['name']}" if params else None
        pid = uuid.uuid4().hex[:26]
        base = f"{request.base_url}v1/predictions/{pid}"
        prediction = Prediction(
            {
                "id": pid,
                "model": model,
                "version": body.get("version"),
                "input": body.get("input", {}),
                "status": "starting",
                "output": None,
                "error": None,
                "urls": {
                    "get": base,
                    "cancel": f"{base}/cancel",
                    "web": f"https://replicate.com/p/{pid}",
                },
            },
            step,
            step.polls,
        )
        self.predictions[pid] = prediction
        if step.polls == 0 and step.kind != "stuck":
            self._advance(request, prediction)  # done within `Prefer: wait`
        return JSONResponse(prediction.json, 201)

    async def get(self, request: Request) -> Response:
        found = await self._prediction(request)
        if not isinstance(found, Prediction):
            return found
        self._advance(request, found)
        return JSONResponse(found.json)

    async def cancel(self, request: Request) -> Response:
        found = await self._prediction(request)
        if not isinstance(found, Prediction):
            return found
        if found.json["status"] in ("starting", "processing"):
            found.json["status"] = "canceled"
        return JSONResponse(found.json)

    async def _prediction(self, request: Request) -> Prediction | Response:
        """The prediction a request names, or the vendor's 401 / 404 answer."""
        await self.record(request)
        if not self.authorized(request):
            return self._unauthorized()
        prediction = self.predictions.get(request.path_params["id"])
        if prediction is None:
            return JSONResponse(problem(404, "Not found", "No such prediction"), 404)
        return prediction

    def _advance(self, request: Request, prediction: Prediction) -> None:
        """One observation of a running prediction: count down, then settle."""
        state = prediction.json
        if state["status"] not in ("starting", "processing"):
            return
        if prediction.polls_left > 0 or prediction.step.kind == "stuck":
            prediction.polls_left -= 1
            state["status"] = "processing"
            return
        if prediction.step.kind == "failed":
            state.update(status="failed", error=prediction.step.reason)
            return
        model_input = state["input"]
        width, height = _size(model_input)
        fmt = str(model_input.get("output_format", "webp"))
        urls = [
            self.store(request, *payload(prediction.step, width, height, fmt))
            for _ in range(int(model_input.get("num_outputs", 1)))
        ]
        output = urls[0] if prediction.step.kind == "single" else urls
        state.update(status="succeeded", output=output)


def _size(model_input: dict[str, Any]) -> tuple[int, int]:
    if "width" in model_input and "height" in model_input:
        return int(model_input["width"]), int(model_input["height"])
    w, _, h = str(model_input.get("aspect_ratio", "1:1")).partition(":")
    ratio = int(w) / int(h)
    return round(math.sqrt(AREA * ratio)), round(math.sqrt(AREA / ratio))
