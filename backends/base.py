"""The backend contract: our own config, request, result and error types; nothing of the host.

A backend type is a class built as `Class(config, deps)`:

- `config: BackendConfig` holds the backend's name, base URL, the API key already resolved
  by the host (backends never read the environment), the per-attempt timeout and `options`,
  an instance of the class's own pydantic model `Options` (validated by the host at start-up
  and by `imagegate config check`, so a typo fails before the first job).
- `deps: BackendDeps` holds what the host injects: the `httpx.AsyncClient` for vendor API
  calls and `download`, the guarded fetch for result URLs the vendor hands back.

It implements `capabilities(model)`, `async generate(request, progress) -> Generation` and
`async aclose()`; optionally `async cancel(handle)` (a vendor job it reported through
`progress.submitted(handle)`). Failures are raised as `backends.errors` types, whose type
decides whether the host retries and whether the attempt was charged. Prices are the host's
business: a backend reports `Usage` (images, tokens, seconds, a vendor-stated cost).

Example (a plug-in registered under the entry-point group `imagegate.backends`)::

    class EchoOptions(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(extra="forbid")
        colour: str = "red"

    class EchoBackend:
        Options = EchoOptions
        needs_key = False

        def __init__(self, config: BackendConfig[EchoOptions], deps: BackendDeps) -> None:
            self.name, self.config = config.name, config

        def capabilities(self, model: str) -> ModelCapabilities:
            return ModelCapabilities(seed=True)

        async def generate(self, request, progress=NO_PROGRESS) -> Generation:
            if request.prompt == "boom":
                raise VendorUnavailable("echo is down")      # retried, not charged
            return Generation([GeneratedImage(render(request))], Usage(images=1))

        async def aclose(self) -> None: ...
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Generic, Literal, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ConfigDict

from backends.capabilities import ModelCapabilities
from backends.errors import BackendError

if TYPE_CHECKING:
    import httpx

    from backends.imaging import ImageInfo

__all__ = [
    "NO_PROGRESS",
    "Backend",
    "BackendClass",
    "BackendConfig",
    "BackendDeps",
    "BackendError",
    "Cancellable",
    "Download",
    "GeneratedImage",
    "Generation",
    "GenerationRequest",
    "ModelCapabilities",
    "NoOptions",
    "Progress",
    "Usage",
]

Operation = Literal["generate", "edit", "variation"]


class NoOptions(BaseModel):
    """The `Options` of a backend type that takes none: any key under `options` is an error."""

    model_config = ConfigDict(extra="forbid", frozen=True)


OptionsT = TypeVar("OptionsT", bound=BaseModel)


@dataclass(frozen=True)
class BackendConfig(Generic[OptionsT]):
    """One configured backend, as the host resolved it. `api_key` is never printed."""

    name: str
    type: str
    options: OptionsT
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    timeout: float = 60.0


@dataclass(frozen=True)
class GenerationRequest:
    """What one attempt asks of a backend. `model` is the vendor's model name.

    `operation` is "generate" (text to image), "edit" (with `images`, optionally `mask`) or
    "variation" (one input image). Input images are encoded bytes (PNG, JPEG or WebP) as
    the client sent them; a mask is a PNG whose transparent pixels mark what to edit.
    """

    prompt: str
    model: str
    width: int
    height: int
    n: int = 1
    seed: int | None = None
    negative_prompt: str | None = None
    quality: str | None = None
    output_format: str = "png"
    operation: Operation = "generate"
    images: tuple[bytes, ...] = ()
    mask: bytes | None = None
    # The same inputs as URLs the vendor can fetch (the host's signed or CDN URLs), for
    # vendors that take input files by URL (Replicate); empty when the host has none.
    image_urls: tuple[str, ...] = ()
    mask_url: str | None = None
    input_fidelity: str | None = None  # edits: "high" | "low" (OpenAI's GPT image models)
    partial_images: int = 0  # streaming: partial previews wanted (0: none)

    @property
    def size(self) -> str:
        return f"{self.width}x{self.height}"


@dataclass(frozen=True)
class GeneratedImage:
    """Encoded image bytes as a backend produced them. `checked`: what the whole-image check
    (`backends.imaging.inspect`) answered for exactly these bytes, when the backend made it
    (`VendorBackend.image` does); the host then stores them without checking them again."""

    data: bytes
    media_type: str = "image/png"
    revised_prompt: str | None = None
    checked: ImageInfo | None = None


@dataclass(frozen=True)
class Usage:
    """What the vendor reported the attempt used; the host prices it. Unknown fields: None.

    Token fields follow OpenAI's `usage` (input split into text and image tokens).
    `seconds` is billed compute time (Replicate's `predict_time`, a GPU server's run time);
    `cost` is a price the vendor itself stated for the attempt, in USD.
    """

    images: int = 0
    input_tokens: int | None = None
    input_text_tokens: int | None = None
    input_image_tokens: int | None = None
    output_tokens: int | None = None
    seconds: float | None = None
    cost: Decimal | None = None

    def __add__(self, other: Usage) -> Usage:
        def add(a: Any, b: Any) -> Any:
            return b if a is None else a if b is None else a + b

        return Usage(
            images=self.images + other.images,
            input_tokens=add(self.input_tokens, other.input_tokens),
            input_text_tokens=add(self.input_text_tokens, other.input_text_tokens),
            input_image_tokens=add(self.input_image_tokens, other.input_image_tokens),
            output_tokens=add(self.output_tokens, other.output_tokens),
            seconds=add(self.seconds, other.seconds),
            cost=add(self.cost, other.cost),
        )


@dataclass(frozen=True)
class Generation:
    """A successful attempt: exactly `request.n` images and what the vendor said it used."""

    images: Sequence[GeneratedImage]
    usage: Usage = Usage()


class Progress(Protocol):
    """Events a backend reports while an attempt runs (the host persists or streams them)."""

    async def submitted(self, handle: str) -> None:
        """The vendor accepted a job with this id: any process can now `cancel(handle)`."""

    async def partial(self, index: int, image: GeneratedImage) -> None:
        """A partial preview of image `index` (streaming vendors only)."""


class _NoProgress:
    async def submitted(self, handle: str) -> None:
        return None

    async def partial(self, index: int, image: GeneratedImage) -> None:
        return None


NO_PROGRESS: Progress = _NoProgress()

Download = Callable[[str, float], Awaitable["httpx.Response"]]
"""`await download(url, timeout)`: GET a result URL the vendor handed back, without our key,
through the host's outbound guard. Raises `httpx.TransportError` on network failure, or a
`BackendError` when the guard refuses the URL; any status is returned as a response."""


@dataclass(frozen=True)
class BackendDeps:
    """What the host injects into every backend."""

    http: httpx.AsyncClient  # vendor API calls (the backend adds its own auth headers)
    download: Download


def plain_download(http: httpx.AsyncClient) -> Download:
    """A `Download` without a guard (tests and tools; the gateway injects its guarded one)."""

    async def download(url: str, timeout: float) -> httpx.Response:
        return await http.get(url, timeout=timeout)

    return download


@runtime_checkable
class Backend(Protocol):
    """One generator, built as `Class(config, deps)` (see the module docstring)."""

    name: str

    def capabilities(self, model: str) -> ModelCapabilities:
        """What `model` can honour; the host checks every request against it."""
        ...

    async def generate(
        self, request: GenerationRequest, progress: Progress = NO_PROGRESS
    ) -> Generation:
        """Produce `request.n` images or raise a `backends.errors.BackendError`.

        The host bounds the call by `config.timeout` and cancels the task when the attempt
        is abandoned: a backend that started a billed vendor job cancels it on
        `asyncio.CancelledError` before re-raising.
        """
        ...

    async def aclose(self) -> None:
        """Release what the backend holds (the injected HTTP client is the host's)."""
        ...


@runtime_checkable
class Cancellable(Protocol):
    """Optional hook: stop a vendor job reported through `Progress.submitted`."""

    async def cancel(self, handle: str) -> None:
        """Best effort; never raises for a job that already ended."""
        ...


BackendClass = Callable[[BackendConfig[Any], BackendDeps], Backend]
"""What a backend type registers: a class built as `Class(config, deps)`. Two optional class
attributes: `Options` (a pydantic model; default `NoOptions`) and `needs_key` (default True:
the host refuses to start without the key named by `api_key_env`)."""


def options_model(cls: BackendClass) -> type[BaseModel]:
    model: type[BaseModel] = getattr(cls, "Options", NoOptions)
    return model


def needs_key(cls: BackendClass) -> bool:
    return bool(getattr(cls, "needs_key", True))
