"""A fake Gemini API (generativelanguage): Gemini image generation and Imagen.

Based on the official SDK, googleapis/python-genai: google/genai/_api_client.py (base URL,
`v1beta` or `v1` (SDK 3.x's default), header `x-goog-api-key`); models.py (the
`{model}:generateContent` and `{model}:predict` request/response mapping, and Imagen's
Gemini-API parameters before commit 43ef621 "Disable GenerateImages for Gemini API");
types.py (FinishReason, BlockedReason); errors.py (the `{"error": {code, message, status,
details}}` body); and Google's error model (google.rpc ErrorInfo / RetryInfo details).

- `POST /v1beta/models/{model}:generateContent` `{"contents": [{"parts": [{"text"}]}],
  "generationConfig": {"responseModalities": [...], "seed", "candidateCount",
  "imageConfig": {"aspectRatio"}}}` -> `{"candidates": [{"content": {"parts": [{"text"},
  {"inlineData": {"mimeType", "data"}}]}, "finishReason"}], "usageMetadata", "modelVersion"}`.
  One image per call (`candidateCount` > 1 is refused). A blocked prompt answers 200 with
  `promptFeedback.blockReason` and no candidates; a withheld image `finishReason: IMAGE_SAFETY`.
- `POST /v1beta/models/{model}:predict` (Imagen) `{"instances": [{"prompt"}], "parameters":
  {"sampleCount", "aspectRatio", "includeRaiReason", "outputOptions": {"mimeType"}}}` ->
  `{"predictions": [{"bytesBase64Encoded", "mimeType"} | {"raiFilteredReason"}]}`; filtered
  images are dropped (reported only with `includeRaiReason`). `negativePrompt` and `seed` are
  Vertex-only: refused here with 400 INVALID_ARGUMENT.
- Pixel sizes follow the documented aspect-ratio tables, scaled down by 8 to keep tests fast.
- Errors: a wrong key is 400 INVALID_ARGUMENT with ErrorInfo reason API_KEY_INVALID (not
  401!), no key 403 PERMISSION_DENIED; quota is 429 RESOURCE_EXHAUSTED with a RetryInfo
  `retryDelay` and no Retry-After header (`quota_exceeded()`); overload 503 UNAVAILABLE.

Step kinds: ok, error, slow, truncated, blocked (promptFeedback), image_safety,
text_only (the model answers prose instead of a picture), filtered (Imagen: one image
withheld), all_filtered (Imagen: `{}`).
"""

from __future__ import annotations

import base64
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.script import FakeVendor, Step, pause, payload

SCALE = 8
GEMINI_SIZES = {
    "1:1": (1024, 1024), "2:3": (832, 1248), "3:2": (1248, 832), "3:4": (864, 1184),
    "4:3": (1184, 864), "4:5": (896, 1152), "5:4": (1152, 896), "9:16": (768, 1344),
    "16:9": (1344, 768), "21:9": (1536, 672),
}  # fmt: skip
IMAGEN_SIZES = {
    "1:1": (1024, 1024), "3:4": (896, 1280), "4:3": (1280, 896),
    "9:16": (768, 1408), "16:9": (1408, 768),
}  # fmt: skip
IMAGE_TOKENS = 1290  # gemini-2.5-flash-image bills 1290 output tokens per image
MIME_FORMATS = {"image/png": "png", "image/jpeg": "jpeg"}
VERTEX_ONLY = ("negativePrompt", "seed", "addWatermark", "enhancePrompt")


def google_error(code: int, status: str, message: str, *details: dict[str, Any]) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": status, "details": list(details)}}


def api_key_invalid() -> dict[str, Any]:
    message = "API key not valid. Please pass a valid API key."
    return google_error(
        400,
        "INVALID_ARGUMENT",
        message,
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "API_KEY_INVALID",
            "domain": "googleapis.com",
            "metadata": {"service": "generativelanguage.googleapis.com"},
        },
        {
            "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
            "locale": "en-US",
            "message": message,
        },
    )


def quota_exceeded(retry_delay: str = "2s") -> dict[str, Any]:
    violation = {
        "quotaMetric": "generativelanguage.googleapis.com/generate_requests_per_model",
        "quotaId": "GenerateRequestsPerMinutePerProjectPerModel",
    }
    return google_error(
        429,
        "RESOURCE_EXHAUSTED",
        "You exceeded your current quota, please check your plan and billing details.",
        {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [violation]},
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay},
    )


def overloaded() -> dict[str, Any]:
    return google_error(503, "UNAVAILABLE", "The model is overloaded. Please try again later.")


class FakeGemini(FakeVendor):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.app = Starlette(
            routes=[
                Route(f"/{version}/models/{{call}}", self.call, methods=["POST"])
                for version in ("v1beta", "v1")
            ]
        )

    async def call(self, request: Request) -> Response:
        received = await self.record(request)
        key = request.headers.get("x-goog-api-key") or request.query_params.get("key")
        if not key:
            return JSONResponse(
                google_error(
                    403,
                    "PERMISSION_DENIED",
                    "Method doesn't allow unregistered callers (callers without established "
                    "identity). Please use API Key or other form of API consumer identity.",
                ),
                403,
            )
        if key != self.key:
            return JSONResponse(api_key_invalid(), 400)
        model, _, method = request.path_params["call"].partition(":")
        if method not in ("generateContent", "predict"):
            return JSONResponse(google_error(404, "NOT_FOUND", "Method not found."), 404)
        step = self.next_step()
        if step.kind == "error":
            return JSONResponse(step.body, step.status, headers=dict(step.headers))
        if step.kind == "slow":
            await pause(self, request, step.delay)
        body = received.json if isinstance(received.json, dict) else {}
        if method == "predict":
            return self._predict(model, body, step)
        return self._generate_content(model, body, step)

    def _generate_content(self, model: str, body: dict[str, Any], step: Step) -> Response:
        config = body.get("generationConfig") or {}
        if int(config.get("candidateCount", 1)) > 1:
            return _invalid(f"Multiple candidates is not enabled for models/{model}")
        texts = [p.get("text") for c in body.get("contents") or [] for p in c.get("parts") or []]
        if not any(isinstance(text, str) and text for text in texts):
            return _invalid("* GenerateContentRequest.contents: contents is not specified")
        usage: dict[str, Any] = {"promptTokenCount": 9, "totalTokenCount": 9}
        answer: dict[str, Any] = {"usageMetadata": usage, "modelVersion": model}
        if step.kind == "blocked":
            return JSONResponse({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}, **answer})
        parts: list[dict[str, Any]] = [{"text": "Here is the picture you asked for."}]
        reason = "IMAGE_SAFETY" if step.kind == "image_safety" else "STOP"
        if step.kind not in ("image_safety", "text_only"):
            ratio = str((config.get("imageConfig") or {}).get("aspectRatio", "1:1"))
            width, height = GEMINI_SIZES.get(ratio, GEMINI_SIZES["1:1"])
            data, mime = payload(step, width // SCALE, height // SCALE, "png")
            parts.append({"inlineData": {"mimeType": mime, "data": _b64(data)}})
            usage.update(candidatesTokenCount=IMAGE_TOKENS, totalTokenCount=9 + IMAGE_TOKENS)
            usage["candidatesTokensDetails"] = [{"modality": "IMAGE", "tokenCount": IMAGE_TOKENS}]
        candidate = {"content": {"parts": parts, "role": "model"}, "finishReason": reason}
        return JSONResponse({"candidates": [{**candidate, "index": 0}], **answer})

    def _predict(self, model: str, body: dict[str, Any], step: Step) -> Response:
        if not model.startswith("imagen"):
            return _invalid(f"models/{model} is not supported for predict")
        instances = body.get("instances") or [{}]
        if not isinstance(instances[0].get("prompt"), str) or not instances[0]["prompt"]:
            return _invalid("instances[0].prompt is required")
        parameters = body.get("parameters") or {}
        for name in VERTEX_ONLY:
            if name in parameters:
                return _invalid(f"{name} parameter is not supported in Gemini API.")
        count = int(parameters.get("sampleCount", 4))
        if not 1 <= count <= 4:
            return _invalid("sampleCount must be between 1 and 4")
        if step.kind == "all_filtered":
            return JSONResponse({})
        ratio = str(parameters.get("aspectRatio", "1:1"))
        if ratio not in IMAGEN_SIZES:
            return _invalid(f"Unsupported aspect ratio: {ratio}")
        mime = str((parameters.get("outputOptions") or {}).get("mimeType", "image/png"))
        width, height = IMAGEN_SIZES[ratio]
        predictions: list[dict[str, Any]] = []
        for _ in range(count):
            data, media_type = payload(step, width // SCALE, height // SCALE, MIME_FORMATS[mime])
            predictions.append({"bytesBase64Encoded": _b64(data), "mimeType": media_type})
        if step.kind == "filtered":
            predictions.pop()
            if parameters.get("includeRaiReason"):
                predictions.append({"raiFilteredReason": _RAI_REASON})
        return JSONResponse({"predictions": predictions})


_RAI_REASON = (
    "Unable to show generated images. All images were filtered out because they violated "
    "Vertex AI's usage guidelines. Support codes: 56562880"
)


def _invalid(message: str) -> Response:
    return JSONResponse(google_error(400, "INVALID_ARGUMENT", message), 400)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
