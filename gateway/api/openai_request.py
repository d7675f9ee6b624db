"""The body of `POST /v1/images/generations` (OpenAI's Images API) -> a `JobSpec`.

Every documented parameter is accepted by name. What the gateway can carry to a backend
becomes part of the job (and its fingerprint, so both surfaces share the cache); a value
it cannot honour is a 400 naming the parameter, never silently dropped. Defaults that
change nothing (`quality: auto`, `background: auto`, `moderation: auto`,
`output_compression: 100`) are accepted as the absence of the parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError

from gateway.api.job_request import MAX_PROMPT, describe
from gateway.errors import ApiError, invalid_request
from gateway.jobs import JobSpec
from gateway.settings import Settings

MAX_IMAGES = 4  # the job API's cap; OpenAI's own is 10


class GenerationBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt: StrictStr
    model: StrictStr | None = None
    n: StrictInt | None = Field(None, ge=1, le=10)
    size: StrictStr | None = None
    quality: Literal["auto", "low", "medium", "high", "standard", "hd"] | None = None
    response_format: Literal["url", "b64_json"] | None = None
    output_format: Literal["png", "jpeg", "webp"] | None = None
    output_compression: StrictInt | None = Field(None, ge=0, le=100)
    background: Literal["transparent", "opaque", "auto"] | None = None
    moderation: Literal["low", "auto"] | None = None
    style: Literal["vivid", "natural"] | None = None
    user: StrictStr | None = Field(None, max_length=256)
    stream: StrictBool | None = None
    partial_images: StrictInt | None = Field(None, ge=0, le=3)


@dataclass(frozen=True)
class Generation:
    """A parsed /v1 request: the job to run and how to answer."""

    spec: JobSpec
    response_format: str  # "url" or "b64_json"
    stream: bool


def resolve_alias(name: str | None, settings: Settings) -> str:
    """The alias for a /v1 `model`: an alias, or an OpenAI name an alias answers to."""
    if name is None:
        return settings.default_model
    if name in settings.models:
        return name
    for alias, model in settings.models.items():
        if name in model.openai_names:
            return alias
    raise ApiError(
        400,
        "model_not_found",
        f"unknown model {name!r}; GET /v1/models lists the models this key may use",
        param="model",
    )


def _cannot_honour(param: str, value: object, alias: str) -> ApiError:
    return invalid_request(
        f"{param}: model {alias!r} cannot honour {value!r} (the gateway has no such option "
        "for its backends)",
        param,
    )


def parse_generation(body: object, settings: Settings) -> Generation:
    if not isinstance(body, dict):
        raise invalid_request("the body must be a JSON object")
    try:
        request = GenerationBody.model_validate(body)
    except ValidationError as exc:
        raise describe(exc) from None
    prompt = request.prompt.strip()
    if not prompt or len(prompt) > MAX_PROMPT:
        raise invalid_request(f"'prompt' must hold 1 to {MAX_PROMPT} characters", "prompt")
    alias = resolve_alias(request.model, settings)
    model = settings.models[alias]
    n = request.n or 1
    if n > MAX_IMAGES:
        raise invalid_request(f"'n': at most {MAX_IMAGES} images per request, got {n}", "n")
    size = model.size_or_default if request.size in (None, "auto") else request.size
    if size not in model.sizes:
        raise invalid_request(
            f"'size': {size!r} is not allowed for model {alias!r}; "
            f"allowed: auto, {', '.join(model.sizes)}",
            "size",
        )
    for param, value, neutral in (
        ("background", request.background, "auto"),
        ("moderation", request.moderation, "auto"),
        ("output_compression", request.output_compression, 100),
        ("style", request.style, None),
    ):
        if value is not None and value != neutral:
            raise _cannot_honour(param, value, alias)
    if request.partial_images and not request.stream:
        raise invalid_request("'partial_images' needs 'stream': true", "partial_images")
    spec = JobSpec(
        prompt=prompt,
        model=alias,
        size=size,
        n=n,
        quality=None if request.quality in (None, "auto") else request.quality,
        output_format=request.output_format or "png",
        metadata={"user": request.user} if request.user else {},
    )
    return Generation(spec, request.response_format or "url", bool(request.stream))
