"""Black Forest Labs FLUX API: submit a task, poll its `polling_url`, download the sample.

`POST {base_url}/v1/{model}` (e.g. `flux-pro-1.1`, `flux-2-pro`) with header `x-key` and JSON
`{prompt, width, height, seed, output_format, safety_tolerance, prompt_upsampling}` answers
`{"id", "polling_url"}`. `GET polling_url` (also `x-key`) answers `{"status", "result"}`:
Pending until `Ready` with `result.sample`, a signed URL that expires after about ten
minutes, so it is downloaded at once (without the key). `Request Moderated` (the prompt) is a
refusal; `Content Moderated` (the picture) a withheld image the vendor made; `Error` a
failed task; `Task not found` a lost one. One image per task: `n > 1` is `n` tasks at once.
Width and height go as multiples of 16 and the answer is fitted to the requested size.
Errors are FastAPI-style `{"detail": "..." | [{loc, msg}]}`: 401/403 key, 402 credits,
422 parameters, 429 too many active tasks (with `Retry-After`).

The polling URL may name a regional host (`api.us1.bfl.ai` for `api.bfl.ai`); our key
goes only to the configured host or its sibling hosts, else the documented
`{base_url}/v1/get_result?id=` is polled instead. BFL has no cancel call.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field

from backends.base import Generation, GenerationRequest, Progress, Usage
from backends.capabilities import ModelCapabilities
from backends.errors import (
    BackendError,
    BadResponse,
    ContentRefused,
    OutputFiltered,
    VendorFailed,
)
from backends.http_errors import clean, json_object, transport_errors
from backends.imaging import snap
from backends.urls import same_api
from backends.vendor import VendorBackend

PENDING = frozenset({"Pending", "Queued", "Processing"})
FORMATS = {"png": "png", "jpeg": "jpeg", "webp": "png"}  # webp is converted by the host


class BFLOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    poll_interval: float = Field(0.5, gt=0, le=30)
    safety_tolerance: int = Field(2, ge=0, le=6)  # 0 strictest .. 6 most permissive
    prompt_upsampling: bool = False


class BFLBackend(VendorBackend[BFLOptions]):
    vendor = "bfl"
    default_base_url = "https://api.bfl.ai"
    Options = BFLOptions

    def capabilities(self, model: str) -> ModelCapabilities:
        return ModelCapabilities(seed=True, output_formats=frozenset({"png", "jpeg"}))

    @property
    def auth(self) -> dict[str, str]:
        return {"x-key": self._key}

    async def _generate(self, request: GenerationRequest, progress: Progress) -> Generation:
        async def one(index: int) -> Generation:
            seed = None if request.seed is None else request.seed + index
            return await self._task(replace(request, n=1, seed=seed))

        return await self.fan_out(request.n, one)

    async def _task(self, request: GenerationRequest) -> Generation:
        task = await self._submit(request)
        try:
            result = await self._settle(task)
            sample = result.get("sample")
            if not isinstance(sample, str):
                raise BadResponse("bfl answered Ready without result.sample")
            data = await self._sample(sample)
        except BackendError as error:
            if type(error) is not ContentRefused:  # a moderated prompt never ran
                error = error.as_billed()  # the task ran: it is billed
            raise error from None
        return Generation([await self.image(data, request)], Usage(images=1))

    def body(self, request: GenerationRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "prompt": request.prompt,
            "width": snap(request.width, 16, 64),
            "height": snap(request.height, 16, 64),
            "output_format": FORMATS.get(request.output_format, "png"),
            "safety_tolerance": self.options.safety_tolerance,
            "prompt_upsampling": self.options.prompt_upsampling,
        }
        if request.seed is not None:
            body["seed"] = request.seed
        return body

    async def _submit(self, request: GenerationRequest) -> dict[str, Any]:
        with transport_errors(self.vendor):
            response = await self.http.post(
                f"{self.base_url}/v1/{request.model}",
                json=self.body(request),
                headers=self.auth,
                timeout=self.timeout,
            )
        if response.status_code != 200:
            raise self._failure(response)
        task = json_object(response)
        if not isinstance(task.get("id"), str):
            raise BadResponse("bfl accepted the task without an id", billed=True)
        return task

    async def _settle(self, task: dict[str, Any]) -> dict[str, Any]:
        url = task.get("polling_url")
        if not same_api(url, self.base_url, subdomains=True):
            url = f"{self.base_url}/v1/get_result?id={task['id']}"
        while True:
            await asyncio.sleep(self.options.poll_interval)
            with transport_errors(self.vendor, billed=True):
                response = await self.http.get(str(url), headers=self.auth, timeout=self.timeout)
            if response.status_code != 200:
                raise self._failure(response)
            answer = json_object(response)
            status = str(answer.get("status", ""))
            if status in PENDING:
                continue
            if status == "Ready":
                result = answer.get("result")
                return result if isinstance(result, dict) else {}
            raise _outcome(status, answer)

    async def _sample(self, url: str) -> bytes:
        """The signed sample URL: no key, through the host's guard; a refusal there (usually
        an expired signature) is worth another task, not a configuration error."""
        with transport_errors(self.vendor, billed=True):
            response = await self._download(url, self.config.timeout)
        if response.status_code != 200:
            raise VendorFailed(
                f"bfl: downloading the sample failed (HTTP {response.status_code}; "
                "its signed URL may have expired)"
            )
        return response.content

    def _failure(self, response: httpx.Response) -> BackendError:
        body = json_object(response)
        detail = body.get("detail", body.get("message", ""))
        if isinstance(detail, list):  # FastAPI validation: [{loc, msg}, ...]
            detail = "; ".join(
                f"{'.'.join(str(p) for p in item.get('loc', [])[1:])}: {item.get('msg', '')}"
                for item in detail
                if isinstance(item, dict)
            )
        return self.error(response, str(detail or response.reason_phrase))


def _outcome(status: str, answer: dict[str, Any]) -> BackendError:
    details = answer.get("details")
    reasons = details.get("Moderation Reasons") if isinstance(details, dict) else None
    why = f" ({', '.join(map(str, reasons))})" if isinstance(reasons, list) and reasons else ""
    if status == "Request Moderated":
        return ContentRefused(f"bfl moderated the request{why}")
    if status == "Content Moderated":
        return OutputFiltered(f"bfl moderated the generated image{why}")
    if status == "Error":
        return VendorFailed(
            f"bfl task failed: {clean(str(answer.get('error') or 'no reason given'))}"
        )
    if status == "Task not found":
        return VendorFailed("bfl lost the task (Task not found)")
    return BadResponse(f"bfl answered an unknown task status {status[:40]!r}")
