"""OpenAI Images API: `POST {base_url}/images/generations`, JSON in, JSON out, Bearer auth.

dall-e-2/3 answer with `url`s unless asked for `response_format: "b64_json"`, so we ask.
gpt-image-* always answer `b64_json` and reject `response_format` (400 unknown_parameter),
but take `output_format`. Other model names (proxies, deployments) get neither field, and
either answer shape is handled: `url` results are downloaded with the same client.
dall-e-3 only accepts n=1, so n>1 there becomes n concurrent calls.

Errors are `{"error": {"message", "type", "code", "param"}}`; a safety refusal is a 400 with
code `content_policy_violation` (dall-e) or `moderation_blocked` (gpt-image).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import replace
from typing import Any

import httpx

from backends.base import BackendError, GeneratedImage, GenerationRequest
from backends.http_errors import json_object, transport_errors
from backends.vendor import VendorBackend

REJECTED_CODES = frozenset({"content_policy_violation", "moderation_blocked"})
# 429 means "slow down" except when the account is out of credit: retrying cannot help.
EXHAUSTED_CODES = frozenset({"insufficient_quota", "billing_hard_limit_reached"})
OUTPUT_FORMATS = frozenset({"png", "jpeg", "webp"})


class OpenAIBackend(VendorBackend):
    vendor = "openai"
    default_base_url = "https://api.openai.com/v1"

    async def _generate(self, request: GenerationRequest) -> list[GeneratedImage]:
        if request.n > 1 and request.model.startswith("dall-e-3"):
            single = replace(request, n=1)
            return await self.fan_out(request.n, lambda _: self._first(single))
        return await self._images(request)

    async def _first(self, request: GenerationRequest) -> GeneratedImage:
        return (await self._images(request))[0]

    async def _images(self, request: GenerationRequest) -> list[GeneratedImage]:
        with transport_errors(self.vendor):
            response = await self.http.post(
                f"{self.base_url}/images/generations",
                json=self.body(request),
                headers=self.auth,
                timeout=self.timeout,
            )
        if response.status_code != 200:
            raise self._failure(response)
        items = json_object(response).get("data")
        if not isinstance(items, list) or not items:
            raise BackendError(
                "backend_unavailable",
                "openai answered 200 without image data",
                retryable=True,
                charged=True,
            )
        return [await self.image(await self._bytes(item), request) for item in items]

    def body(self, request: GenerationRequest) -> dict[str, Any]:
        """The JSON request. OpenAI has no negative prompt or seed; they are not sent."""
        body: dict[str, Any] = {
            "model": request.model,
            "prompt": request.prompt,
            "n": request.n,
            "size": request.size,
        }
        if request.quality:
            body["quality"] = request.quality
        if request.model.startswith("dall-e"):
            body["response_format"] = "b64_json"
        elif request.model.startswith("gpt-image") and request.output_format in OUTPUT_FORMATS:
            body["output_format"] = request.output_format
        return body

    async def _bytes(self, item: Any) -> bytes:
        if isinstance(item, dict) and isinstance(item.get("b64_json"), str):
            try:
                return base64.b64decode(item["b64_json"], validate=True)
            except binascii.Error:
                return b""  # reported by the image check as "not a whole image"
        if isinstance(item, dict) and isinstance(item.get("url"), str):
            return await self.download(item["url"])
        raise BackendError(
            "backend_unavailable",
            "openai answered an image entry with neither b64_json nor url",
            retryable=True,
            charged=True,
        )

    def _failure(self, response: httpx.Response) -> BackendError:
        error = json_object(response).get("error")
        if not isinstance(error, dict):
            return self.error(response, response.reason_phrase)
        code = str(error.get("code") or error.get("type") or "")
        detail = ": ".join(part for part in (code, str(error.get("message") or "")) if part)
        return self.error(
            response,
            detail,
            rejected=code in REJECTED_CODES,
            retryable=False if code in EXHAUSTED_CODES else None,
        )
