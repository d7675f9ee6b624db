"""fal.ai queue: submit, poll `status_url` to COMPLETED, fetch `response_url`, cancel.

`POST {base_url}/{owner}/{alias}[/{path}]` (the model id, e.g. `fal-ai/flux/dev`) with
`Authorization: Key <id>:<secret>` and the model's JSON input (`prompt`, `image_size:
{width, height}`, `num_images`, `seed`, `output_format`, `enable_safety_checker`,
`negative_prompt` where the model takes one) answers `{request_id, status_url, response_url,
cancel_url}`. Status is IN_QUEUE / IN_PROGRESS (202) until COMPLETED; the result is
`{"images": [{url, width, height, content_type}], "has_nsfw_concepts": [...], "seed"}`.
A flagged image is blacked out by the safety checker and named in `has_nsfw_concepts`:
that is a withheld (charged) image. Model errors come from the result URL: 422
`{"detail": [{type: "content_policy_violation", ...}]}` is a refusal; request errors are
`{"detail", "error_type"}` (also `X-Fal-Error-Type`).

The queue request is reported through `progress.submitted` as `"{owner}/{alias}/{id}"`, so
any process can cancel it (`PUT .../requests/{id}/cancel`); an attempt that is abandoned or
fails while polling cancels it too. Vendor URLs get our key only on the configured origin.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field

from backends.base import Generation, GenerationRequest, Progress, Usage
from backends.capabilities import ModelCapabilities
from backends.errors import BackendError, BadResponse, InvalidRequest, OutputFiltered
from backends.http_errors import json_object, transport_errors
from backends.urls import same_api
from backends.vendor import VendorBackend

FORMATS = {"png": "png", "jpeg": "jpeg", "webp": "png"}
CANCEL_TIMEOUT = 5.0


class FalOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    poll_interval: float = Field(0.5, gt=0, le=30)
    enable_safety_checker: bool = True
    negative_prompt: bool | None = None  # default: every model but FLUX takes one


class FalBackend(VendorBackend[FalOptions]):
    vendor = "fal"
    default_base_url = "https://queue.fal.run"
    Options = FalOptions

    def capabilities(self, model: str) -> ModelCapabilities:
        negative = self.options.negative_prompt
        if negative is None:
            negative = "flux" not in model
        return ModelCapabilities(
            seed=True, negative_prompt=negative, output_formats=frozenset({"png", "jpeg"})
        )

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Key {self._key}"}

    async def _generate(self, request: GenerationRequest, progress: Progress) -> Generation:
        app = _app(request.model)
        queued = await self._submit(request)
        handle = f"{app}/{queued['request_id']}"
        await progress.submitted(handle)
        try:
            result = await self._settle(app, queued)
            images = await self._images(result, request)
        except BackendError as error:
            await self.cancel(handle)
            raise error from None
        except asyncio.CancelledError:  # abandoned attempt: stop the GPU work
            await self.cancel(handle)
            raise
        return Generation(images, Usage(images=len(images)))

    async def cancel(self, handle: str) -> None:
        """Best effort; fal answers 400 ALREADY_COMPLETED for a finished request."""
        app, _, request_id = handle.rpartition("/")
        with contextlib.suppress(httpx.HTTPError):
            await self.http.put(
                f"{self.base_url}/{app}/requests/{request_id}/cancel",
                headers=self.auth,
                timeout=CANCEL_TIMEOUT,
            )

    def body(self, request: GenerationRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "prompt": request.prompt,
            "image_size": {"width": request.width, "height": request.height},
            "num_images": request.n,
            "output_format": FORMATS.get(request.output_format, "png"),
            "enable_safety_checker": self.options.enable_safety_checker,
        }
        if request.seed is not None:
            body["seed"] = request.seed
        if request.negative_prompt:
            body["negative_prompt"] = request.negative_prompt
        return body

    async def _submit(self, request: GenerationRequest) -> dict[str, Any]:
        with transport_errors(self.vendor):
            response = await self.http.post(
                f"{self.base_url}/{request.model}",
                json=self.body(request),
                headers=self.auth,
                timeout=self.timeout,
            )
        if response.status_code != 200:
            raise self._failure(response)
        queued = json_object(response)
        if not isinstance(queued.get("request_id"), str):
            raise BadResponse("fal queued the request without a request_id", billed=True)
        return queued

    async def _settle(self, app: str, queued: dict[str, Any]) -> dict[str, Any]:
        base = f"{self.base_url}/{app}/requests/{queued['request_id']}"
        status_url = self._trusted(queued.get("status_url"), f"{base}/status")
        while True:
            await asyncio.sleep(self.options.poll_interval)
            status = await self._get(status_url, (200, 202))
            if status.get("status") == "COMPLETED":
                break
        return await self._get(self._trusted(queued.get("response_url"), base), (200,))

    async def _get(self, url: str, ok: tuple[int, ...]) -> dict[str, Any]:
        with transport_errors(self.vendor, billed=True):
            response = await self.http.get(url, headers=self.auth, timeout=self.timeout)
        if response.status_code not in ok:
            raise self._failure(response)
        return json_object(response)

    async def _images(self, result: dict[str, Any], request: GenerationRequest) -> list[Any]:
        flags = result.get("has_nsfw_concepts")
        if isinstance(flags, list) and any(flag is True for flag in flags):
            raise OutputFiltered(f"fal's safety checker withheld {flags.count(True)} image(s)")
        files = [f for f in result.get("images") or [] if isinstance(f, dict)]
        urls = [f["url"] for f in files if isinstance(f.get("url"), str)]
        if len(urls) < request.n:
            raise BadResponse(f"fal answered {len(urls)} of {request.n} images", billed=True)
        return [await self.image(await self.download(url), request) for url in urls[: request.n]]

    def _trusted(self, url: Any, fallback: str) -> str:
        return url if same_api(url, self.base_url) else fallback

    def _failure(self, response: httpx.Response) -> BackendError:
        body = json_object(response)
        detail = body.get("detail", "")
        if isinstance(detail, list):  # model errors: typed objects
            items = [item for item in detail if isinstance(item, dict)]
            kinds = {str(item.get("type", "")) for item in items}
            text = "; ".join(f"{item.get('type')}: {item.get('msg', '')}" for item in items)
            return self.error(response, text, rejected="content_policy_violation" in kinds)
        kind = body.get("error_type") or response.headers.get("x-fal-error-type")
        text = ": ".join(str(part) for part in (kind, detail) if part)
        return self.error(response, text or response.reason_phrase)


def _app(model: str) -> str:
    """`owner/alias` of a model id (`fal-ai/flux/dev` -> `fal-ai/flux`): the queue's request
    URLs leave the endpoint's subpath out."""
    owner, _, rest = model.partition("/")
    alias = rest.partition("/")[0]
    if not owner or not alias:
        raise InvalidRequest(f"fal: model {model!r} is not owner/alias[/path]")
    return f"{owner}/{alias}"
