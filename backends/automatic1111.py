"""AUTOMATIC1111 / Forge web UI API: `POST {base_url}/sdapi/v1/txt2img` (and `img2img`).

JSON in (`prompt`, `negative_prompt`, `seed`, `width`, `height`, `batch_size`, `steps`,
`cfg_scale`, `sampler_name`, `override_settings.sd_model_checkpoint`), JSON out
`{"images": [<base64 PNG>], "info": "<JSON>"}`. `n` is `batch_size`; `send_images: true,
save_images: false` (no grid, nothing left on the server's disk); extensions may append
pictures after ours, so the first `n` are taken. An edit (one input image, optional mask)
goes to img2img with `init_images`. Sizes go as multiples of 8 and the answer is fitted.

The web UI has no key: with `--api-auth user:pass` it wants HTTP Basic, so `api_key_env`
names a variable holding `user:pass`. Errors are its `{"error", "detail", "body", "errors"}`
bodies: 401 credentials, 404 "Sampler not found" / "Model not found", 422 a bad field,
500 a crash (CUDA out of memory is worth a retry). It renders one job at a time; a route
to it usually sets `max_concurrency = 1`. `interrupt_on_cancel` makes an abandoned attempt
call `/sdapi/v1/interrupt`, which stops whatever the server is rendering: only for a
server that works for this gateway alone.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
from typing import Any

import httpx
import pybase64
from pydantic import BaseModel, ConfigDict, Field

from backends.base import Generation, GenerationRequest, Progress, Usage
from backends.capabilities import ModelCapabilities
from backends.errors import BackendError, BadResponse
from backends.http_errors import json_object, transport_errors
from backends.imaging import snap
from backends.vendor import VendorBackend

DEFAULT_MODEL = "default"  # a route target naming no checkpoint: the one loaded


class Automatic1111Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    steps: int = Field(25, ge=1, le=150)
    cfg_scale: float = Field(7.0, ge=1, le=30)
    sampler_name: str | None = None  # default: the web UI's
    denoising_strength: float = Field(0.75, gt=0, le=1)  # img2img
    interrupt_on_cancel: bool = False


class Automatic1111Backend(VendorBackend[Automatic1111Options]):
    vendor = "automatic1111"
    default_base_url = "http://127.0.0.1:7860"
    Options = Automatic1111Options
    needs_key = False

    def capabilities(self, model: str) -> ModelCapabilities:
        return ModelCapabilities(seed=True, negative_prompt=True, input_images=1, mask=True)

    @property
    def auth(self) -> dict[str, str]:
        if not self._key:
            return {}
        return {"Authorization": "Basic " + base64.b64encode(self._key.encode()).decode()}

    async def _generate(self, request: GenerationRequest, progress: Progress) -> Generation:
        path = "img2img" if request.images else "txt2img"
        try:
            with transport_errors(self.vendor):
                response = await self.http.post(
                    f"{self.base_url}/sdapi/v1/{path}",
                    json=self.body(request),
                    headers=self.auth,
                    timeout=self.timeout,
                )
        except asyncio.CancelledError:
            if self.options.interrupt_on_cancel:
                await self._interrupt()
            raise
        if response.status_code != 200:
            raise self._failure(response)
        pictures = json_object(response).get("images")
        if not isinstance(pictures, list) or len(pictures) < request.n:
            raise BadResponse(f"automatic1111 answered fewer than {request.n} images")
        images = [await self.image(_b64(p), request) for p in pictures[: request.n]]
        return Generation(images, Usage(images=len(images)))

    async def _interrupt(self) -> None:
        """Stop the render in progress. Not a `cancel(handle)` hook: the web UI has no job
        ids, so another process could not say which render to stop."""
        with contextlib.suppress(httpx.HTTPError):
            await self.http.post(
                f"{self.base_url}/sdapi/v1/interrupt", headers=self.auth, timeout=5.0
            )

    def body(self, request: GenerationRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "prompt": request.prompt,
            "negative_prompt": request.negative_prompt or "",
            "seed": -1 if request.seed is None else request.seed,
            "width": snap(request.width, 8, 64),
            "height": snap(request.height, 8, 64),
            "batch_size": request.n,
            "n_iter": 1,
            "steps": self.options.steps,
            "cfg_scale": self.options.cfg_scale,
            "send_images": True,
            "save_images": False,
        }
        if self.options.sampler_name:
            body["sampler_name"] = self.options.sampler_name
        if request.model and request.model != DEFAULT_MODEL:
            body["override_settings"] = {"sd_model_checkpoint": request.model}
        if request.images:
            body["init_images"] = [base64.b64encode(request.images[0]).decode()]
            body["denoising_strength"] = self.options.denoising_strength
            if request.mask is not None:
                body["mask"] = base64.b64encode(request.mask).decode()
        return body

    def _failure(self, response: httpx.Response) -> BackendError:
        body = json_object(response)
        detail = body.get("detail")
        if isinstance(detail, list):  # FastAPI's 422
            detail = "; ".join(
                str(item.get("msg", "")) for item in detail if isinstance(item, dict)
            )
        parts = (str(body.get("error") or ""), str(detail or body.get("errors") or ""))
        return self.error(response, ": ".join(p for p in parts if p) or response.reason_phrase)


def _b64(text: Any) -> bytes:
    try:
        return pybase64.b64decode(str(text).split(",")[-1], validate=True)
    except binascii.Error:
        return b""  # reported by the image check as "not a whole image"
