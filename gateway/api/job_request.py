"""The body of `POST /images/jobs`: strict types, unknown fields refused, defaults applied."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
)

from gateway.api.json_body import integral
from gateway.deadlines import MAX_DEADLINE, deadline_at, parse_cancel_after
from gateway.errors import ApiError, invalid_request
from gateway.jobs import JobSpec
from gateway.settings import Settings

MAX_PROMPT = 4000
MAX_METADATA_ENTRIES = 16
ShortStr = Annotated[StrictStr, Field(max_length=512)]
JsonInt = Annotated[StrictInt, BeforeValidator(integral)]


class JobRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=False)

    prompt: StrictStr
    model: StrictStr | None = None
    size: StrictStr | None = None
    n: JsonInt = Field(1, ge=1, le=4)
    seed: JsonInt | None = Field(None, ge=0, le=2**63 - 1)
    negative_prompt: StrictStr | None = Field(None, alias="negativePrompt", max_length=MAX_PROMPT)
    quality: StrictStr | None = Field(None, max_length=32)
    output_format: Literal["png", "webp", "jpeg"] = Field("png", alias="outputFormat")
    no_cache: StrictBool = Field(False, alias="noCache")
    webhook_url: StrictStr | None = Field(None, alias="webhookUrl", max_length=2048)
    metadata: dict[Annotated[StrictStr, Field(max_length=64)], ShortStr] = Field(
        default_factory=dict, max_length=MAX_METADATA_ENTRIES
    )
    # Seconds from now; not part of what the job asks for (nor of its fingerprint).
    deadline: float | None = Field(None, gt=0, le=MAX_DEADLINE)
    # An edit: input images (and a mask) as data: URLs or this gateway's /files/ URLs.
    images: list[StrictStr] | None = Field(None, min_length=1, max_length=16)
    mask: StrictStr | None = None
    input_fidelity: Literal["high", "low"] | None = Field(None, alias="inputFidelity")

    @field_validator("prompt")
    @classmethod
    def _prompt_length(cls, prompt: str) -> str:
        trimmed = prompt.strip()
        if not trimmed:
            raise ValueError("must not be empty or whitespace only")
        if len(trimmed) > MAX_PROMPT:
            raise ValueError(f"must be at most {MAX_PROMPT} characters, got {len(trimmed)}")
        return trimmed

    @field_validator("deadline", mode="before")
    @classmethod
    def _deadline_is_a_number(cls, value: object) -> object:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ValueError("must be a number of seconds")
        return value

    @field_validator("webhook_url")
    @classmethod
    def _webhook_is_http(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return url


def describe(exc: ValidationError) -> ApiError:
    """The first problem pydantic found, as a 400 whose message and `param` name the field."""
    error = exc.errors()[0]
    field = ".".join(str(part) for part in error["loc"])[:100] or "body"
    param = str(error["loc"][0])[:100] if error["loc"] else None
    if error["type"] == "extra_forbidden":
        return invalid_request(f"unknown field {field!r}", param)
    if error["type"] == "missing":
        return invalid_request(f"{field!r} is required", param)
    message = error["msg"].removeprefix("Value error, ")
    return invalid_request(f"{field!r}: {message}", param)


def parse_job_request(body: object, settings: Settings) -> JobSpec:
    """Validate a decoded JSON body into a `JobSpec`, or raise the contract's 400."""
    if not isinstance(body, dict):
        raise invalid_request("the body must be a JSON object")
    try:
        request = JobRequest.model_validate(body)
    except ValidationError as exc:
        raise describe(exc) from None
    if (request.mask is not None or request.input_fidelity is not None) and not request.images:
        field = "mask" if request.mask is not None else "inputFidelity"
        raise invalid_request(f"{field!r} needs 'images' (an edit's input images)", field)
    alias = request.model or settings.default_model
    model = settings.models.get(alias)
    if model is None:
        raise ApiError(
            400,
            "model_not_found",
            f"unknown model {alias!r}; available: {', '.join(sorted(settings.models))}",
        )
    size = request.size or model.size_or_default
    if size not in model.sizes:
        raise invalid_request(
            f"'size': {size!r} is not allowed for model {alias!r}; "
            f"allowed: {', '.join(model.sizes)}"
        )
    return JobSpec(
        prompt=request.prompt,
        model=alias,
        size=size,
        n=request.n,
        seed=request.seed,
        negative_prompt=request.negative_prompt,
        quality=request.quality,
        output_format=request.output_format,
        no_cache=request.no_cache,
        webhook_url=request.webhook_url,
        metadata=dict(request.metadata),
        operation="edit" if request.images else "generate",
        input_fidelity=request.input_fidelity,
    )


def parse_deadline(body: object, headers: Mapping[str, str]) -> datetime | None:
    """The job's deadline: `deadline` (seconds) in a body `parse_job_request` accepted, or
    the `Cancel-After` header; 400 when both are given."""
    seconds = body.get("deadline") if isinstance(body, dict) else None
    header = headers.get("cancel-after") or None  # an empty header is no header
    if seconds is not None and header is not None:
        raise invalid_request("give 'deadline' in the body or a Cancel-After header, not both")
    if header is not None:
        # No job lives longer than MAX_DEADLINE: a longer Cancel-After is that long.
        return deadline_at(min(parse_cancel_after(header), MAX_DEADLINE), "Cancel-After")
    if seconds is not None:
        return deadline_at(float(seconds), "deadline")
    return None


def input_refs(body: dict[str, object]) -> tuple[list[tuple[str, str]], tuple[str, str] | None]:
    """A validated body's input image URLs, each named by its place (`images[0]`, `mask`)."""
    images = body.get("images") or []
    assert isinstance(images, list)
    named = [(f"images[{index}]", str(url)) for index, url in enumerate(images)]
    mask = body.get("mask")
    return named, (("mask", str(mask)) if mask is not None else None)
