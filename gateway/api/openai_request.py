"""The bodies of `/v1/images/generations`, `/edits` and `/variations` (OpenAI's Images API)
-> a `JobSpec` and how to answer.

Every documented parameter is accepted by name. What the gateway can carry to a backend
becomes part of the job (and its fingerprint, so both surfaces share the cache); a value
it cannot honour is a 400 naming the parameter, never silently dropped. Defaults that
change nothing (`quality: auto`, `background: auto`, `moderation: auto`,
`output_compression: 100`) are accepted as the absence of the parameter. Input images are
not read here (gateway/api/openai_edits.py reads, checks and stores them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, ValidationError

from gateway.api.job_request import MAX_PROMPT, JsonInt, describe
from gateway.errors import ApiError, invalid_request
from gateway.jobs import JobSpec
from gateway.settings import Settings

MAX_IMAGES = 4  # the job API's cap; OpenAI's own is 10
MAX_EDIT_PROMPT = 32000  # OpenAI's cap for the GPT image models (the job API keeps 4000)
BodyT = TypeVar("BodyT", bound=BaseModel)


class Options(BaseModel):
    """What every Images endpoint takes."""

    model_config = ConfigDict(extra="forbid")

    model: StrictStr | None = None
    n: JsonInt | None = Field(None, ge=1, le=10)
    size: StrictStr | None = None
    response_format: Literal["url", "b64_json"] | None = None
    user: StrictStr | None = Field(None, max_length=256)


class Rendering(Options):
    """What generations and edits take besides the prompt."""

    quality: Literal["auto", "low", "medium", "high", "standard", "hd"] | None = None
    output_format: Literal["png", "jpeg", "webp"] | None = None
    output_compression: JsonInt | None = Field(None, ge=0, le=100)
    background: Literal["transparent", "opaque", "auto"] | None = None
    moderation: Literal["low", "auto"] | None = None
    stream: StrictBool | None = None
    partial_images: JsonInt | None = Field(None, ge=0, le=3)


class GenerationBody(Rendering):
    prompt: StrictStr
    style: Literal["vivid", "natural"] | None = None


class ImageRef(BaseModel):
    """An input image of a JSON edit: `{"image_url": ...}` (`file_id` needs OpenAI's Files API)."""

    model_config = ConfigDict(extra="forbid")

    image_url: StrictStr | None = Field(None, max_length=128 * 1024 * 1024)
    file_id: StrictStr | None = None


class EditBody(Rendering):
    prompt: StrictStr
    input_fidelity: Literal["high", "low"] | None = None
    images: list[ImageRef] | None = None  # the JSON form; multipart sends `image` file parts
    mask: ImageRef | None = None


class VariationBody(Options):
    pass


@dataclass(frozen=True)
class Generation:
    """A parsed /v1 request: the job to run and how to answer."""

    spec: JobSpec
    response_format: str  # "url" or "b64_json"
    stream: bool
    event_prefix: str = "image_generation"  # "image_edit" for edits: the stream's event types


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


def validated(model: type[BodyT], body: object) -> BodyT:
    if not isinstance(body, dict):
        raise invalid_request("the body must be a JSON object")
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise describe(exc) from None


def _prompt(prompt: str, limit: int) -> str:
    trimmed = prompt.strip()
    if not trimmed or len(trimmed) > limit:
        raise invalid_request(f"'prompt' must hold 1 to {limit} characters", "prompt")
    return trimmed


def _spec(request: Options, settings: Settings, prompt: str, operation: str) -> JobSpec:
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
    quality, output_format, partial_images = None, "png", 0
    if isinstance(request, Rendering):
        for param, value, neutral in (
            ("background", request.background, "auto"),
            ("moderation", request.moderation, "auto"),
            ("output_compression", request.output_compression, 100),
            ("style", getattr(request, "style", None), None),
        ):
            if value is not None and value != neutral:
                raise _cannot_honour(param, value, alias)
        if request.partial_images and not request.stream:
            raise invalid_request("'partial_images' needs 'stream': true", "partial_images")
        quality = None if request.quality in (None, "auto") else request.quality
        output_format = request.output_format or "png"
        partial_images = request.partial_images or 0
    return JobSpec(
        prompt=prompt,
        model=alias,
        size=size,
        n=n,
        quality=quality,
        output_format=output_format,
        metadata={"user": request.user} if request.user else {},
        operation=operation,
        input_fidelity=getattr(request, "input_fidelity", None),
        partial_images=partial_images,
    )


def _answer_as(request: Options, spec: JobSpec, prefix: str) -> Generation:
    stream = bool(getattr(request, "stream", None))
    return Generation(spec, request.response_format or "url", stream, prefix)


def parse_generation(body: object, settings: Settings) -> Generation:
    request = validated(GenerationBody, body)
    spec = _spec(request, settings, _prompt(request.prompt, MAX_PROMPT), "generate")
    return _answer_as(request, spec, "image_generation")


def parse_edit(request: EditBody, settings: Settings) -> Generation:
    """An edit's options (its images are the caller's to read, check and store)."""
    spec = _spec(request, settings, _prompt(request.prompt, MAX_EDIT_PROMPT), "edit")
    return _answer_as(request, spec, "image_edit")


def parse_variation(request: VariationBody, settings: Settings) -> Generation:
    return _answer_as(request, _spec(request, settings, "", "variation"), "image_generation")


# Multipart fields arrive as text: these are turned into the JSON types the models expect.
INT_FIELDS = frozenset({"n", "output_compression", "partial_images"})
BOOL_FIELDS = frozenset({"stream"})


def form_values(fields: dict[str, str]) -> dict[str, object]:
    """A multipart form's fields as the JSON body they stand for (400 naming a bad one)."""
    values: dict[str, object] = {}
    for name, text in fields.items():
        if name in INT_FIELDS:
            digits = text.strip().removeprefix("-")
            if not (digits.isascii() and digits.isdigit() and len(digits) <= 12):
                raise invalid_request(f"{name!r}: {text[:20]!r} is not an integer", name)
            values[name] = int(text.strip())
        elif name in BOOL_FIELDS:
            if text.strip().lower() not in ("true", "false"):
                raise invalid_request(f"{name!r}: {text[:20]!r} is not true or false", name)
            values[name] = text.strip().lower() == "true"
        else:
            values[name] = text
    return values
