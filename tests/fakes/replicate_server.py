"""A fake Replicate predictions API.

`POST /v1/models/{owner}/{name}/predictions`, `POST /v1/predictions` (with `version`),
`GET /v1/predictions/{id}`, `POST /v1/predictions/{id}/cancel`, `GET /files/{name}`.
Like the real one: Bearer auth, predictions `{id, status, output, error, urls: {get, cancel,
web}}`, RFC 7807 error bodies `{"title", "detail", "status"}`. A step with `polls=k` answers
"processing" to k polls before its outcome; `polls=0` answers the outcome at once (sync mode).
Step kinds: ok, error, slow, truncated, html (output files), failed, stuck, single.
File inputs (`image`, `input_image`, `mask`: URLs or data: URLs) are downloaded at create
and must be images (else 422), as Replicate does; `fetched` keeps what was read.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from PIL import Image
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
        self.fetched: dict[str, list[bytes]] = {}  # file inputs it downloaded, by input name
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
        refused = await self.fetch_inputs(body.get("input", {}))
        if refused is not None:
            return refused
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

    async def fetch_inputs(self, model_input: dict[str, Any]) -> Response | None:
        """File inputs (`image`, `input_image`, `mask`) are URLs or data: URLs; Replicate
        downloads them before the prediction starts and refuses one it cannot read (422)."""
        for name in FILE_INPUTS:
            url = model_input.get(name)
            if url is None:
                continue
            data = await _read(str(url))
            if data is None or not _is_image(data):
                detail = f"{name}: could not read an image from the given URL"
                return JSONResponse(problem(422, "Input validation failed", detail), 422)
            self.fetched.setdefault(name, []).append(data)
        return None

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


FILE_INPUTS = ("image", "input_image", "mask")


async def _read(url: str) -> bytes | None:
    if url.startswith("data:"):
        try:
            return base64.b64decode(url.partition(",")[2], validate=True)
        except binascii.Error:
            return None
    if not url.startswith("http://127.0.0.1:"):  # the fake only ever fetches from loopback
        return None
    async with httpx.AsyncClient(timeout=5) as client:
        response = await client.get(url)
    return response.content if response.status_code == 200 else None


def _is_image(data: bytes) -> bool:
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
        return True
    except (OSError, SyntaxError, ValueError):
        return False
