"""Replicate predictions: create, poll until terminal, download the output files.

`owner/name` models: `POST {base_url}/v1/models/{owner}/{name}/predictions {"input": ...}`;
`owner/name:version`: `POST {base_url}/v1/predictions {"version": ..., "input": ...}`.
Headers: `Authorization: Bearer <key>`, `Prefer: wait=N` (hold the create call up to N s,
1..60) and `Cancel-After` (the vendor's own deadline, in case we lose track of it).
A prediction is `{id, status, output, error, urls: {get, cancel}}` with status
starting | processing | succeeded | failed | canceled | aborted; `output` is a URL or a list.
HTTP errors are RFC 7807 problem details `{"title", "detail", "status"}`.

Options (`[backends.NAME.options]`): `poll_interval` seconds (default 1.0), `wait` seconds
for `Prefer: wait`, `size_input` = "aspect_ratio" (Flux and most new models, default) or
"pixels" (models with width/height inputs), `image_input` / `mask_input` (edits: the
model's input names for the image, sent as the host's URL, and the mask). If the attempt
runs out of `settings.timeout`, or polling fails, the prediction is canceled (it bills
while it runs) and the error charged.
"""

from __future__ import annotations

import asyncio
import binascii
import contextlib
import math
import re
from typing import Any, Literal
from urllib.parse import quote

import httpx
import pybase64
from pydantic import BaseModel, ConfigDict, Field

from backends.base import Generation, GenerationRequest, Progress, Usage
from backends.capabilities import ALL_FORMATS, ModelCapabilities
from backends.errors import (
    BackendError,
    BadResponse,
    ContentRefused,
    InvalidRequest,
    VendorFailed,
    VendorUnavailable,
)
from backends.http_errors import json_object, transport_errors
from backends.imaging import nearest_ratio, white_where_transparent
from backends.vendor import VendorBackend

TERMINAL = frozenset({"succeeded", "failed", "canceled", "aborted"})
ASPECT_RATIOS = ("21:9", "16:9", "3:2", "4:3", "5:4", "1:1", "4:5", "3:4", "2:3", "9:16", "9:21")
OUTPUT_FORMATS = {"png": "png", "jpeg": "jpg", "webp": "webp"}
# How models word a safety refusal in `error` (Flux: "NSFW content detected...").
REFUSAL = re.compile(r"nsfw|safety|sensitive content|content polic|flagged", re.IGNORECASE)
CANCEL_TIMEOUT = 5.0


class ReplicateOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    poll_interval: float = Field(1.0, gt=0, le=60)
    wait: int | None = Field(None, ge=1, le=60)  # default: half the timeout, 1..60
    size_input: Literal["aspect_ratio", "pixels"] = "aspect_ratio"
    negative_prompt: bool | None = None  # default: every model but FLUX takes one
    # Edits: the model's input that takes the image (a URL; e.g. "image" for flux-fill and
    # SDXL, "input_image" for flux-kontext) and the mask (white = paint). None: no edits.
    image_input: str | None = None
    mask_input: str | None = None


class ReplicateBackend(VendorBackend[ReplicateOptions]):
    vendor = "replicate"
    default_base_url = "https://api.replicate.com"
    Options = ReplicateOptions

    @property
    def poll_interval(self) -> float:
        return self.options.poll_interval

    def capabilities(self, model: str) -> ModelCapabilities:
        negative = self.options.negative_prompt
        if negative is None:
            negative = not model.startswith("black-forest-labs/flux")
        return ModelCapabilities(
            sizes=None,
            seed=True,
            negative_prompt=negative,
            input_images=1 if self.options.image_input else 0,
            mask=bool(self.options.image_input and self.options.mask_input),
            output_formats=ALL_FORMATS,
        )

    async def _generate(self, request: GenerationRequest, progress: Progress) -> Generation:
        prediction = await self._create(request, await self.inputs(request))
        await progress.submitted(prediction["id"])
        try:
            prediction = await self._settle(prediction)
        except BackendError as error:
            await self._cancel(prediction["id"])
            raise error.as_billed() from None
        except asyncio.CancelledError:  # the attempt's deadline (or shutdown): stop billing
            await self._cancel(prediction["id"])
            raise
        images = [await self.image(await self._fetch(url), request) for url in _outputs(prediction)]
        return Generation(images, _usage(prediction, len(images)))

    async def cancel(self, handle: str) -> None:
        """Cancel prediction `handle` (from any process: the id is all it takes)."""
        await self._cancel(handle)

    async def inputs(self, request: GenerationRequest) -> dict[str, str]:
        """An edit's model inputs: the image by the URL the host gave (a data: URL when it
        gave none) and the mask, converted to white-means-paint, as a data: URL."""
        if request.operation != "edit" or not self.options.image_input:
            return {}
        image = request.image_urls[0] if request.image_urls else _data_url(request.images[0])
        inputs = {self.options.image_input: image}
        if request.mask is not None and self.options.mask_input:
            mask = await asyncio.to_thread(white_where_transparent, request.mask)
            inputs[self.options.mask_input] = _data_url(mask)
        return inputs

    def payload(
        self, request: GenerationRequest, inputs: dict[str, str] | None = None
    ) -> tuple[str, dict[str, Any]]:
        """(URL, JSON body) of the create call."""
        model, _, version = request.model.partition(":")
        owner, slash, name = model.partition("/")
        if not (owner and slash and name) or "/" in name:
            raise InvalidRequest(
                f"replicate: model {request.model!r} is not owner/name or owner/name:version"
            )
        model_input: dict[str, Any] = {
            "prompt": request.prompt,
            "num_outputs": request.n,
            "output_format": OUTPUT_FORMATS.get(request.output_format, "png"),
        }
        if self.options.size_input == "pixels":
            model_input.update(width=request.width, height=request.height)
        else:
            model_input["aspect_ratio"] = nearest_ratio(
                request.width, request.height, ASPECT_RATIOS
            )
        if request.seed is not None:
            model_input["seed"] = request.seed
        if request.negative_prompt:
            model_input["negative_prompt"] = request.negative_prompt
        model_input.update(inputs or {})
        if version:
            return f"{self.base_url}/v1/predictions", {"version": version, "input": model_input}
        return f"{self.base_url}/v1/models/{owner}/{name}/predictions", {"input": model_input}

    async def _create(self, request: GenerationRequest, inputs: dict[str, str]) -> dict[str, Any]:
        url, body = self.payload(request, inputs)
        timeout = self.config.timeout
        wait = self.options.wait or max(1, min(60, int(timeout / 2)))
        headers = {**self.auth, "Prefer": f"wait={wait}", "Cancel-After": f"{math.ceil(timeout)}s"}
        with transport_errors(self.vendor):
            response = await self.http.post(url, json=body, headers=headers, timeout=self.timeout)
        if response.status_code not in (200, 201, 202):
            raise self._failure(response)
        return self._prediction(response)

    async def _settle(self, prediction: dict[str, Any]) -> dict[str, Any]:
        """Poll until terminal; then succeeded or a translated failure."""
        while prediction.get("status") not in TERMINAL:
            await asyncio.sleep(self.poll_interval)
            with transport_errors(self.vendor, billed=True):
                response = await self.http.get(
                    self._api_url(prediction, "get"), headers=self.auth, timeout=self.timeout
                )
            if response.status_code != 200:
                raise self._failure(response)
            prediction = self._prediction(response)
        status = prediction["status"]
        if status == "failed":
            reason = str(prediction.get("error") or "no reason given")
            refused = REFUSAL.search(reason) is not None
            message = f"replicate prediction failed: {self.clean(reason)}"
            raise ContentRefused(message, billed=True) if refused else VendorFailed(message)
        if status == "canceled":
            raise VendorFailed("replicate prediction canceled")
        if status != "succeeded":  # "aborted" never started, so never billed
            raise VendorUnavailable(f"replicate prediction {status}")
        return prediction

    async def _cancel(self, prediction_id: str) -> None:
        """Best effort: a failed cancel must not hide the error that made us cancel."""
        with contextlib.suppress(httpx.HTTPError):
            await self.http.post(
                f"{self.base_url}/v1/predictions/{quote(prediction_id, safe='')}/cancel",
                headers=self.auth,
                timeout=CANCEL_TIMEOUT,
            )

    def _api_url(self, prediction: dict[str, Any], kind: str) -> str:
        """`urls.get`, but only on the API's own origin: our key goes with it."""
        url = (prediction.get("urls") or {}).get(kind)
        if isinstance(url, str) and _origin(url) == _origin(self.base_url):
            return url
        return f"{self.base_url}/v1/predictions/{quote(prediction['id'], safe='')}"

    async def _fetch(self, url: str) -> bytes:
        if url.startswith("data:"):
            try:
                return pybase64.b64decode(url.partition(",")[2], validate=True)
            except binascii.Error:
                return b""  # reported by the image check
        return await self.download(url)

    def _prediction(self, response: httpx.Response) -> dict[str, Any]:
        prediction = json_object(response)
        if not isinstance(prediction.get("id"), str) or "status" not in prediction:
            raise BadResponse("replicate answered without a prediction")
        return prediction

    def _failure(self, response: httpx.Response) -> BackendError:
        body = json_object(response)
        parts = (str(body.get("title") or ""), str(body.get("detail") or ""))
        detail = ": ".join(part for part in parts if part) or response.reason_phrase
        return self.error(response, detail)


def _outputs(prediction: dict[str, Any]) -> list[str]:
    output = prediction.get("output")
    urls = [output] if isinstance(output, str) else output if isinstance(output, list) else []
    urls = [url for url in urls if isinstance(url, str)]
    if not urls:
        raise BadResponse("replicate succeeded without output")
    return urls


def _usage(prediction: dict[str, Any], images: int) -> Usage:
    """`metrics.predict_time`: the seconds Replicate bills for hardware-priced models."""
    metrics = prediction.get("metrics")
    seconds = metrics.get("predict_time") if isinstance(metrics, dict) else None
    if not isinstance(seconds, int | float) or isinstance(seconds, bool):
        seconds = None
    return Usage(images=images, seconds=seconds)


def _origin(url: str) -> tuple[str, str, int | None]:
    parsed = httpx.URL(url)
    return parsed.scheme, parsed.host, parsed.port


def _data_url(data: bytes) -> str:
    media = "image/jpeg" if data.startswith(b"\xff\xd8") else "image/png"
    if data[8:12] == b"WEBP":
        media = "image/webp"
    return f"data:{media};base64,{pybase64.b64encode(data).decode()}"
