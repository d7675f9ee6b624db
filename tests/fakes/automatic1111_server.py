"""A fake AUTOMATIC1111 / Forge web UI API: `/sdapi/v1/txt2img`, `/img2img`, `/interrupt`.

Based on AUTOMATIC1111/stable-diffusion-webui modules/api/api.py: JSON in
(StableDiffusionTxt2ImgProcessingAPI: prompt, negative_prompt, seed (-1: random), width,
height, batch_size, n_iter, steps, cfg_scale, sampler_name, send_images, save_images), JSON
out `{"images": [<base64>], "parameters": {...}, "info": "<JSON string with seed, all_seeds,
width, height, ...>"}`; HTTP Basic auth only when started with `--api-auth user:pass`
(401 + `WWW-Authenticate: Basic`); every error rendered by its `handle_exception` as
`{"error": <exception class>, "detail", "body", "errors"}` with the exception's status (500
for a crash such as CUDA running out of memory, 404 "Sampler not found", 404 "Init image not
found" for img2img without `init_images`); a FastAPI 422 for a body of the wrong shape; one
job at a time (the web UI's `queue_lock`).

`credentials=None` runs without auth, like a default `--api` start.
Step kinds: ok, error, slow, truncated, extra (an extension appends one more picture, such
as a ControlNet map, after the requested ones).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import random
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.script import FakeVendor, Step, pause, payload, png

SAMPLERS = frozenset({"Euler a", "Euler", "DPM++ 2M", "DPM++ 2M Karras", "DDIM"})


def api_error(status: int, error: str, detail: str = "", errors: str = "") -> Response:
    body = {"error": error, "detail": detail, "body": "", "errors": errors or f"{status}: {detail}"}
    return JSONResponse(body, status)


def out_of_memory() -> dict[str, Any]:
    return {
        "error": "OutOfMemoryError",
        "detail": "",
        "body": "",
        "errors": "CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 8.00 GiB total "
        "capacity; 6.10 GiB already allocated)",
    }


class FakeAutomatic1111(FakeVendor):
    def __init__(self, credentials: tuple[str, str] | None = None) -> None:
        super().__init__("")
        self.credentials = credentials
        self.queue_lock = asyncio.Lock()
        self.interrupts = 0
        self.app = Starlette(
            routes=[
                Route("/sdapi/v1/txt2img", self.txt2img, methods=["POST"]),
                Route("/sdapi/v1/img2img", self.img2img, methods=["POST"]),
                Route("/sdapi/v1/interrupt", self.interrupt, methods=["POST"]),
            ]
        )

    def authorized(self, request: Request) -> bool:
        if self.credentials is None:
            return True
        token = base64.b64encode(":".join(self.credentials).encode()).decode()
        return request.headers.get("authorization") == f"Basic {token}"

    def _unauthorized(self, request: Request) -> Response:
        detail = "Incorrect username or password"
        if "authorization" not in request.headers:
            detail = "Not authenticated"
        response = api_error(401, "HTTPException", detail)
        response.headers["WWW-Authenticate"] = "Basic"
        return response

    async def txt2img(self, request: Request) -> Response:
        return await self._process(request, img2img=False)

    async def img2img(self, request: Request) -> Response:
        return await self._process(request, img2img=True)

    async def interrupt(self, request: Request) -> Response:
        await self.record(request)
        if not self.authorized(request):
            return self._unauthorized(request)
        self.interrupts += 1
        return JSONResponse({})

    async def _process(self, request: Request, *, img2img: bool) -> Response:
        received = await self.record(request)
        if not self.authorized(request):
            return self._unauthorized(request)
        body = received.json
        if not isinstance(body, dict):
            return JSONResponse(
                {"detail": [{"loc": ["body"], "msg": "field required", "type": "value_error"}]},
                422,
            )
        sampler = body.get("sampler_name") or "Euler a"
        if sampler not in SAMPLERS:
            return api_error(404, "HTTPException", "Sampler not found")
        if img2img and not _decodes(body.get("init_images")):
            return api_error(404, "HTTPException", "Init image not found")
        async with self.queue_lock:  # the web UI renders one job at a time
            step = self.next_step()
            if step.kind == "error":
                return JSONResponse(step.body, step.status, headers=dict(step.headers))
            if step.kind == "slow":
                await pause(self, request, step.delay)
            return JSONResponse(self._processed(body, step))

    def _processed(self, body: dict[str, Any], step: Step) -> dict[str, Any]:
        width, height = int(body.get("width", 512)), int(body.get("height", 512))
        count = int(body.get("batch_size", 1)) * int(body.get("n_iter", 1))
        seed = int(body.get("seed", -1))
        seed = random.randrange(2**32) if seed == -1 else seed
        images = [
            base64.b64encode(payload(step, width, height, "png")[0]).decode() for _ in range(count)
        ]
        if step.kind == "extra":
            images.append(base64.b64encode(png(width // 2, height // 2)).decode())
        if not body.get("send_images", True):
            images = []
        info = {
            "prompt": body.get("prompt", ""),
            "negative_prompt": body.get("negative_prompt", ""),
            "seed": seed,
            "all_seeds": [seed + index for index in range(count)],
            "width": width,
            "height": height,
            "sampler_name": body.get("sampler_name") or "Euler a",
            "steps": body.get("steps", 20),
        }
        return {"images": images, "parameters": body, "info": json.dumps(info)}


def _decodes(images: Any) -> bool:
    if not isinstance(images, list) or not images:
        return False
    try:
        return all(base64.b64decode(str(image).split(",")[-1], validate=True) for image in images)
    except binascii.Error:
        return False
