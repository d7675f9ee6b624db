"""OpenAI Images API: `POST {base_url}/images/generations`, JSON in, JSON out, Bearer auth;
`/images/edits` and `/images/variations` take multipart/form-data (file parts `image` or
repeated `image[]`, `mask`) and answer the same JSON. With partial images asked for, GPT
image models are called with `stream: true` (backends/openai_stream.py).

dall-e-2/3 answer with `url`s unless asked for `response_format: "b64_json"`, so we ask.
gpt-image-* always answer `b64_json` and reject `response_format` (400 unknown_parameter),
but take `output_format`. Other model names (proxies, deployments) get neither field, and
either answer shape is handled: `url` results are downloaded with the same client.
dall-e-3 only accepts n=1, so n>1 there becomes n concurrent calls.

Errors are `{"error": {"message", "type", "code", "param"}}`; a safety refusal is a 400 with
code `content_policy_violation` (dall-e) or `moderation_blocked` (gpt-image).
"""

from __future__ import annotations

import binascii
import json
from dataclasses import replace
from functools import cached_property
from typing import Any

import httpx
import orjson
import pybase64

from backends.b64_answer import loads_decoding
from backends.base import Generation, GenerationRequest, Progress, Usage
from backends.capabilities import ALL_FORMATS, ModelCapabilities
from backends.errors import BackendError, BadResponse
from backends.http_errors import json_object, transport_errors
from backends.openai_stream import consume
from backends.vendor import VendorBackend

# Azure's content filter answers "content_filter" where OpenAI says content_policy_violation.
REJECTED_CODES = frozenset({"content_policy_violation", "moderation_blocked", "content_filter"})
# 429 means "slow down" except when the account is out of credit: retrying cannot help.
EXHAUSTED_CODES = frozenset({"insufficient_quota", "billing_hard_limit_reached"})
OUTPUT_FORMATS = ALL_FORMATS
ENDPOINTS = {"generate": "generations", "edit": "edits", "variation": "variations"}

# What OpenAI documents per model family; other names (proxies, deployments) pass through.
DALL_E_2 = ModelCapabilities(
    sizes=frozenset({"256x256", "512x512", "1024x1024"}),
    qualities=frozenset({"standard"}),
    input_images=1,
    mask=True,
    variations=True,
)
DALL_E_3 = ModelCapabilities(
    sizes=frozenset({"1024x1024", "1792x1024", "1024x1792"}),
    qualities=frozenset({"standard", "hd"}),
)
GPT_IMAGE = ModelCapabilities(
    sizes=frozenset({"1024x1024", "1536x1024", "1024x1536"}),
    qualities=frozenset({"low", "medium", "high", "auto"}),
    input_images=16,
    mask=True,
    input_fidelity=True,
    output_formats=ALL_FORMATS,
    streaming=True,
)
PASS_THROUGH = ModelCapabilities(sizes=None, qualities=None)


class OpenAIBackend(VendorBackend):
    vendor = "openai"
    default_base_url = "https://api.openai.com/v1"

    def family(self, model: str) -> str:
        """The OpenAI model a name runs (Azure deployments name it in their options)."""
        return model

    @cached_property
    def _endpoints(self) -> dict[str, httpx.URL]:
        """Parsed once: httpx parses a URL given as text again at every request."""
        return {op: httpx.URL(f"{self.base_url}/images/{path}") for op, path in ENDPOINTS.items()}

    def images_url(self, request: GenerationRequest) -> str | httpx.URL:
        return self._endpoints[request.operation]

    def capabilities(self, model: str) -> ModelCapabilities:
        model = self.family(model)
        if model.startswith("dall-e-3"):
            return DALL_E_3
        if model.startswith("dall-e-2"):
            return DALL_E_2
        if model.startswith("gpt-image"):
            return GPT_IMAGE
        return PASS_THROUGH

    async def _generate(self, request: GenerationRequest, progress: Progress) -> Generation:
        if request.n > 1 and self.family(request.model).startswith("dall-e-3"):
            single = replace(request, n=1)
            return await self.fan_out(request.n, lambda _: self._images(single))
        if self.streams(request):
            return await self._streamed(request, progress)
        return await self._images(request)

    def streams(self, request: GenerationRequest) -> bool:
        """Partial images are asked for (one image at a time) and the model streams them."""
        return (
            request.partial_images > 0
            and request.n == 1
            and request.operation != "variation"
            and self.capabilities(request.model).streaming
        )

    def _content(self, request: GenerationRequest, stream: bool = False) -> dict[str, Any]:
        """httpx's keyword arguments for the request's headers and body: JSON for a
        generation, else multipart/form-data (as the SDK sends edits and variations).

        The JSON is encoded here (`_json`), not by httpx's `json=`: the standard library's
        encoder it uses was about 14 of the 38 us httpx took to build a generation's
        request; the bytes are the same (compact, UTF-8)."""
        extra = {"stream": True, "partial_images": request.partial_images} if stream else {}
        if request.operation == "generate":
            body = _json({**self.body(request), **extra})
            return {"content": body, "headers": {**self.auth, "Content-Type": "application/json"}}
        fields = {**self.form(request), **{k: str(v).lower() for k, v in extra.items()}}
        return {"data": fields, "files": self.files(request), "headers": self.auth}

    async def _streamed(self, request: GenerationRequest, progress: Progress) -> Generation:
        media_type = f"image/{request.output_format}"
        with transport_errors(self.vendor):
            async with self.http.stream(
                "POST",
                self.images_url(request),
                timeout=self.timeout,
                **self._content(request, stream=True),
            ) as response:
                if response.status_code != 200:
                    await response.aread()
                    raise self._failure(response)
                streamed = await consume(response.aiter_lines(), progress, media_type, self.clean)
        image = await self.image(streamed.data, request)
        return Generation([image], usage(streamed.usage, 1))

    async def _images(self, request: GenerationRequest) -> Generation:
        with transport_errors(self.vendor):
            response = await self.http.post(
                self.images_url(request),
                timeout=self.timeout,
                **self._content(request),
            )
        if response.status_code != 200:
            raise self._failure(response)
        # Images decoded straight from the body's bytes; else parsed whole, as any answer.
        answer = loads_decoding(response.content)
        if not isinstance(answer, dict):
            answer = json_object(response)
        items = answer.get("data")
        if not isinstance(items, list) or not items:
            raise BadResponse("openai answered 200 without image data")
        images = [await self.image(await self._bytes(item), request) for item in items]
        return Generation(images, usage(answer.get("usage"), len(images)))

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
        family = self.family(request.model)
        if family.startswith("dall-e"):
            body["response_format"] = "b64_json"
        elif family.startswith("gpt-image") and request.output_format in OUTPUT_FORMATS:
            body["output_format"] = request.output_format
        return body

    def form(self, request: GenerationRequest) -> dict[str, str]:
        """An edit's or variation's text fields (a variation has no prompt or quality)."""
        fields = {key: str(value) for key, value in self.body(request).items()}
        if request.operation == "variation":
            fields.pop("prompt", None)
            fields.pop("quality", None)
            fields.pop("output_format", None)
        elif request.input_fidelity:
            fields["input_fidelity"] = request.input_fidelity
        return fields

    def files(self, request: GenerationRequest) -> list[tuple[str, tuple[str, bytes, str]]]:
        """The input images as file parts: one `image` for dall-e-2 and variations, else
        `image[]` parts (the SDK's form for a list, which the GPT image models take)."""
        single = request.operation == "variation" or self.family(request.model).startswith("dall-e")
        name = "image" if single else "image[]"
        parts = [
            (name, (f"image-{index}.{_extension(data)}", data, _media_type(data)))
            for index, data in enumerate(request.images)
        ]
        if request.mask is not None:
            parts.append(("mask", ("mask.png", request.mask, "image/png")))
        return parts

    async def _bytes(self, item: Any) -> bytes:
        if isinstance(item, dict) and isinstance(item.get("b64_json"), bytes):
            return item["b64_json"]  # decoded by loads_decoding
        if isinstance(item, dict) and isinstance(item.get("b64_json"), str):
            try:
                return pybase64.b64decode(item["b64_json"], validate=True)
            except binascii.Error:
                return b""  # reported by the image check as "not a whole image"
        if isinstance(item, dict) and isinstance(item.get("url"), str):
            return await self.download(item["url"])
        raise BadResponse("openai answered an image entry with neither b64_json nor url")

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
            exhausted=code in EXHAUSTED_CODES,
        )


def usage(reported: Any, images: int) -> Usage:
    """OpenAI's `usage` (gpt-image models): input/output tokens, input split text/image."""
    if not isinstance(reported, dict):
        return Usage(images=images)
    details = reported.get("input_tokens_details")
    details = details if isinstance(details, dict) else {}

    def count(value: Any) -> int | None:
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    return Usage(
        images=images,
        input_tokens=count(reported.get("input_tokens")),
        input_text_tokens=count(details.get("text_tokens")),
        input_image_tokens=count(details.get("image_tokens")),
        output_tokens=count(reported.get("output_tokens")),
    )


def _json(body: dict[str, Any]) -> bytes:
    """`body` as httpx's `json=` would send it (compact, UTF-8): orjson, or the standard
    library for what orjson refuses (an integer past 64 bits)."""
    try:
        return orjson.dumps(body)
    except orjson.JSONEncodeError:
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def _extension(data: bytes) -> str:
    if data.startswith(b"\xff\xd8"):
        return "jpg"
    return "webp" if data[8:12] == b"WEBP" else "png"


def _media_type(data: bytes) -> str:
    return {"jpg": "image/jpeg", "webp": "image/webp", "png": "image/png"}[_extension(data)]
