"""Google's Gemini API: Gemini image models (`generateContent`) and Imagen (`predict`).

Both live under `{base_url}/{api_version}/models/{model}:{method}` with header
`x-goog-api-key`. A model whose name starts with `imagen` is called with
`:predict {"instances": [{"prompt"}], "parameters": {"sampleCount", "aspectRatio",
"includeRaiReason", "outputOptions": {"mimeType"}}}` and answers `predictions` with
`bytesBase64Encoded` (withheld images are dropped, or named by `raiFilteredReason`).
Any other model gets `:generateContent` with `responseModalities` TEXT+IMAGE, `imageConfig.
aspectRatio` and `seed`, and answers inline image data in `candidates[0].content.parts`; one
picture per call, so `n > 1` is `n` calls with consecutive seeds. Both take an aspect ratio,
not pixels: the nearest documented ratio is asked for and the answer fitted to the size.

Refusals: `promptFeedback.blockReason` (the prompt, nothing made) is content_rejected; a
candidate that ends in IMAGE_SAFETY / SAFETY / PROHIBITED_CONTENT ... made output and withheld
it (charged). Errors are `{"error": {code, message, status, details}}`: a wrong key is a 400
with ErrorInfo reason API_KEY_INVALID (an auth error here), and a 429 RESOURCE_EXHAUSTED
carries its wait in RetryInfo `retryDelay` rather than a Retry-After header. Imagen on the
Gemini API takes neither a seed nor a negative prompt (Vertex-only parameters).
"""

from __future__ import annotations

import binascii
import re
from dataclasses import replace
from typing import Any, Literal

import httpx
import pybase64
from pydantic import BaseModel, ConfigDict, Field

from backends.base import GeneratedImage, Generation, GenerationRequest, Progress, Usage
from backends.capabilities import ModelCapabilities
from backends.errors import (
    AuthError,
    BackendError,
    BadResponse,
    ContentRefused,
    OutputFiltered,
)
from backends.http_errors import clean, json_object, transport_errors
from backends.imaging import nearest_ratio
from backends.vendor import VendorBackend

GEMINI_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")
IMAGEN_RATIOS = ("1:1", "3:4", "4:3", "9:16", "16:9")
WITHHELD = frozenset(
    {"IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT", "SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST",
     "SPII", "RECITATION", "IMAGE_RECITATION"}
)  # fmt: skip
AUTH_REASONS = frozenset(
    {"API_KEY_INVALID", "API_KEY_SERVICE_BLOCKED", "API_KEY_HTTP_REFERRER_BLOCKED"}
)
MIME = {"png": "image/png", "jpeg": "image/jpeg"}


class GeminiOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    api_version: Literal["v1beta", "v1"] = "v1beta"
    person_generation: Literal["dont_allow", "allow_adult", "allow_all"] | None = None  # Imagen
    image_size: Literal["1K", "2K"] | None = None  # Imagen's sampleImageSize
    max_n: int = Field(4, ge=1, le=8)


class GeminiBackend(VendorBackend[GeminiOptions]):
    vendor = "gemini"
    default_base_url = "https://generativelanguage.googleapis.com"
    Options = GeminiOptions

    def capabilities(self, model: str) -> ModelCapabilities:
        if _imagen(model):
            return ModelCapabilities(max_n=4, output_formats=frozenset(MIME))
        return ModelCapabilities(max_n=self.options.max_n, seed=True)

    @property
    def auth(self) -> dict[str, str]:
        return {"x-goog-api-key": self._key}

    def url(self, model: str, method: str) -> str:
        return f"{self.base_url}/{self.options.api_version}/models/{model}:{method}"

    async def _generate(self, request: GenerationRequest, progress: Progress) -> Generation:
        if _imagen(request.model):
            return await self._imagen(request)

        async def one(index: int) -> Generation:
            seed = None if request.seed is None else request.seed + index
            return await self._gemini(replace(request, n=1, seed=seed))

        return await self.fan_out(request.n, one)

    async def _gemini(self, request: GenerationRequest) -> Generation:
        config: dict[str, Any] = {
            "responseModalities": ["TEXT", "IMAGE"],
            "imageConfig": {
                "aspectRatio": nearest_ratio(request.width, request.height, GEMINI_RATIOS)
            },
        }
        if request.seed is not None:
            config["seed"] = request.seed
        body = {
            "contents": [{"role": "user", "parts": [{"text": request.prompt}]}],
            "generationConfig": config,
        }
        answer = await self._call(request.model, "generateContent", body)
        blocked = (answer.get("promptFeedback") or {}).get("blockReason")
        if blocked:
            raise ContentRefused(f"gemini blocked the prompt ({clean(str(blocked))[:40]})")
        candidates = answer.get("candidates")
        candidate = candidates[0] if isinstance(candidates, list) and candidates else {}
        reason = str(candidate.get("finishReason") or "")
        if reason in WITHHELD:
            raise OutputFiltered(f"gemini withheld the image (finishReason {reason})")
        parts = (candidate.get("content") or {}).get("parts") or []
        inline = [p.get("inlineData") or p.get("inline_data") for p in parts if isinstance(p, dict)]
        data = [d for d in inline if isinstance(d, dict) and isinstance(d.get("data"), str)]
        if not data:
            raise BadResponse(f"gemini answered without an image (finishReason {reason or '-'})")
        image = await self.image(_b64(data[0]["data"]), request)
        return Generation([image], _usage(answer.get("usageMetadata"), 1))

    async def _imagen(self, request: GenerationRequest) -> Generation:
        images: list[GeneratedImage] = []
        reasons: list[str] = []
        for _ in range(2):  # one more call for images the filter withheld
            missing = request.n - len(images)
            predictions = await self._predict(replace(request, n=missing))
            for prediction in predictions:
                if isinstance(prediction.get("bytesBase64Encoded"), str):
                    images.append(await self.image(_b64(prediction["bytesBase64Encoded"]), request))
                elif prediction.get("raiFilteredReason"):
                    reasons.append(clean(str(prediction["raiFilteredReason"])))
            if len(images) >= request.n:
                return Generation(images[: request.n], Usage(images=request.n))
        why = f": {reasons[0]}" if reasons else ""
        message = f"imagen withheld {request.n - len(images)} of {request.n} images{why}"
        raise ContentRefused(message, billed=bool(images))

    async def _predict(self, request: GenerationRequest) -> list[dict[str, Any]]:
        parameters: dict[str, Any] = {
            "sampleCount": request.n,
            "aspectRatio": nearest_ratio(request.width, request.height, IMAGEN_RATIOS),
            "includeRaiReason": True,
            "outputOptions": {"mimeType": MIME.get(request.output_format, "image/png")},
        }
        if self.options.person_generation:
            parameters["personGeneration"] = self.options.person_generation
        if self.options.image_size:
            parameters["sampleImageSize"] = self.options.image_size
        body = {"instances": [{"prompt": request.prompt}], "parameters": parameters}
        answer = await self._call(request.model, "predict", body)
        predictions = answer.get("predictions") or []
        return [p for p in predictions if isinstance(p, dict)]

    async def _call(self, model: str, method: str, body: dict[str, Any]) -> dict[str, Any]:
        with transport_errors(self.vendor):
            response = await self.http.post(
                self.url(model, method), json=body, headers=self.auth, timeout=self.timeout
            )
        if response.status_code != 200:
            raise self._failure(response)
        return json_object(response)

    def _failure(self, response: httpx.Response) -> BackendError:
        error = json_object(response).get("error")
        if not isinstance(error, dict):
            return self.error(response, response.reason_phrase)
        details = [d for d in error.get("details") or [] if isinstance(d, dict)]
        status = str(error.get("status") or "")
        detail = ": ".join(part for part in (status, str(error.get("message") or "")) if part)
        if any(d.get("reason") in AUTH_REASONS for d in details):
            return AuthError(f"gemini refused the API key ({clean(detail)})")
        failure = self.error(response, detail)
        delay = next((d.get("retryDelay") for d in details if "retryDelay" in d), None)
        if failure.retry_after is None and isinstance(delay, str):
            failure.retry_after = _seconds(delay)
        return failure


def _imagen(model: str) -> bool:
    return model.removeprefix("models/").startswith("imagen")


def _b64(text: str) -> bytes:
    try:
        return pybase64.b64decode(text, validate=True)
    except binascii.Error:
        return b""  # reported by the image check as "not a whole image"


def _seconds(duration: str) -> float | None:
    """google.protobuf.Duration in JSON: "17s", "1.5s"."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)s\s*", duration)
    return float(match.group(1)) if match else None


def _usage(metadata: Any, images: int) -> Usage:
    if not isinstance(metadata, dict):
        return Usage(images=images)
    prompt, output = metadata.get("promptTokenCount"), metadata.get("candidatesTokenCount")
    return Usage(
        images=images,
        input_tokens=prompt if isinstance(prompt, int) else None,
        output_tokens=output if isinstance(output, int) else None,
    )
