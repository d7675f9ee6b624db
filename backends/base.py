"""The backend contract: our own request and result types, one error type.

A backend turns a `GenerationRequest` into images. Vendor SDK or wire types never cross
this boundary: each vendor module translates its HTTP statuses, timeouts and error bodies
into `BackendError` in one place. Whether an error is retried is decided by its
`retryable` flag, and whether it cost money by `charged`.

Example of a minimal plug-in (registered under the entry-point group `imagegate.backends`)::

    class EchoBackend:
        def __init__(self, name: str, settings: BackendSettings, http: httpx.AsyncClient): ...
        async def generate(self, request: GenerationRequest) -> list[GeneratedImage]: ...
        async def aclose(self) -> None: ...
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    import httpx

    from gateway.settings import BackendSettings


@dataclass(frozen=True)
class GenerationRequest:
    """What one attempt asks of a backend. `model` is the vendor's model name."""

    prompt: str
    model: str
    width: int
    height: int
    n: int = 1
    seed: int | None = None
    negative_prompt: str | None = None
    quality: str | None = None
    output_format: str = "png"

    @property
    def size(self) -> str:
        return f"{self.width}x{self.height}"


@dataclass(frozen=True)
class GeneratedImage:
    """Encoded image bytes as a backend produced them."""

    data: bytes
    media_type: str = "image/png"


class BackendError(Exception):
    """A failed attempt, already translated from the vendor's terms.

    `code` is a public error code (`backend_unavailable`, `content_rejected`, `timeout`, ...);
    `message` must already be free of secrets (the gateway redacts again all the same).
    `charged` is True when the vendor billed the attempt or may have (a timeout after the
    request was sent). `retry_after` is the vendor's advice in seconds, if it gave any.
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        retryable: bool,
        charged: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retryable = retryable
        self.charged = charged
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return (
            f"BackendError({self.code!r}, {self.message!r}, retryable={self.retryable}, "
            f"charged={self.charged}, retry_after={self.retry_after})"
        )


@runtime_checkable
class Backend(Protocol):
    """One generator. Constructed as `Backend(name, settings, http_client)`."""

    name: str

    async def generate(self, request: GenerationRequest) -> list[GeneratedImage]:
        """Produce `request.n` images or raise `BackendError`."""
        ...

    async def aclose(self) -> None:
        """Release what the backend holds (the shared HTTP client is closed by the gateway)."""
        ...


class BackendFactory(Protocol):
    def __call__(
        self, name: str, settings: BackendSettings, http: httpx.AsyncClient
    ) -> Backend: ...
