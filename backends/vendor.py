"""What every HTTP vendor backend shares, so each vendor module only speaks its wire format.

`VendorBackend` reads the API key once, caps concurrency, bounds each attempt by
`settings.timeout`, checks returned bytes as images (and fits them to the requested size),
downloads result URLs and fans single-image calls out for vendors without an `n` field.
Subclasses implement `_generate`.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any, ClassVar

import httpx

from backends.base import BackendError, GeneratedImage, GenerationRequest
from backends.http_errors import as_charged, clean, status_error, transport_errors
from backends.imaging import FORMATS, NotAnImage, conform
from gateway.settings import BackendSettings, ConfigError


class VendorBackend:
    vendor: ClassVar[str]  # the name used in error messages
    default_base_url: ClassVar[str]

    def __init__(self, name: str, settings: BackendSettings, http: httpx.AsyncClient) -> None:
        self.name = name
        self.settings = settings
        self.http = http
        self.base_url = (settings.base_url or self.default_base_url).rstrip("/")
        self._key = _api_key(name, settings)
        cap = settings.max_concurrency
        self._slots = asyncio.Semaphore(cap) if cap else None
        # Connect gets less than the whole attempt so that a connect that hangs surfaces as
        # ConnectTimeout (nothing sent, not charged) before the attempt's deadline does.
        self.timeout = httpx.Timeout(settings.timeout, connect=min(settings.timeout / 2, 10.0))

    async def generate(self, request: GenerationRequest) -> list[GeneratedImage]:
        """One attempt, bounded by `settings.timeout` (waiting for a slot is not counted)."""
        async with self._slot():
            try:
                async with asyncio.timeout(self.settings.timeout):
                    return await self._generate(request)
            except TimeoutError as exc:
                # The request went out: the vendor may bill it.
                raise BackendError(
                    "timeout",
                    f"{self.vendor}: no result within {self.settings.timeout:g}s",
                    retryable=True,
                    charged=True,
                ) from exc

    async def _generate(self, request: GenerationRequest) -> list[GeneratedImage]:
        raise NotImplementedError

    async def aclose(self) -> None:
        return None

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._key}"}

    def clean(self, text: str) -> str:
        return clean(text, (self._key,))

    def error(
        self,
        response: httpx.Response,
        detail: str,
        *,
        rejected: bool = False,
        retryable: bool | None = None,
        charged: bool = False,
    ) -> BackendError:
        return status_error(
            self.vendor,
            response.status_code,
            detail,
            headers=response.headers,
            rejected=rejected,
            retryable=retryable,
            charged=charged,
            secrets=(self._key,),
        )

    async def download(self, url: str) -> bytes:
        """Fetch a result the vendor already billed for. No Authorization header: result
        URLs are presigned and often on another host that must never see our key."""
        with transport_errors(self.vendor, billed=True):
            response = await self.http.get(url, timeout=self.timeout)
        if response.status_code != 200:
            # Detail left out on purpose: storage errors echo the presigned URL.
            raise self.error(
                response, "downloading the result failed", retryable=True, charged=True
            )
        return response.content

    async def image(self, data: bytes, request: GenerationRequest) -> GeneratedImage:
        """Whole-image check plus fit to the requested size, off the event loop."""
        try:
            data, info = await asyncio.to_thread(conform, data, request.width, request.height)
        except NotAnImage as exc:
            raise BackendError(
                "backend_unavailable",
                f"{self.vendor} returned bytes that are not a whole image",
                retryable=True,
                charged=True,
            ) from exc
        media_type = FORMATS[info.format][1] if info.format in FORMATS else f"image/{info.format}"
        return GeneratedImage(data, media_type)

    async def fan_out(
        self, n: int, one: Callable[[int], Coroutine[Any, Any, GeneratedImage]]
    ) -> list[GeneratedImage]:
        """`n` single-image calls run concurrently (for vendors without an `n` field).

        Concurrent rather than sequential: latency stays that of one call. If one fails the
        rest are cancelled, and the failure is charged since siblings were already sent.
        """
        if n == 1:
            return [await one(0)]
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(one(index)) for index in range(n)]
        except* BackendError as failures:
            first = failures.exceptions[0]
            assert isinstance(first, BackendError)
            raise as_charged(first) from first
        return [task.result() for task in tasks]

    @asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        if self._slots is None:
            yield
            return
        async with self._slots:
            yield


def _api_key(name: str, settings: BackendSettings) -> str:
    """Read once at construction so a missing key fails start-up, not the first job."""
    env = settings.api_key_env
    if not env:
        raise ConfigError(f"backends.{name}: api_key_env must name the variable holding the key")
    key = os.environ.get(env, "").strip()
    if not key:
        raise ConfigError(f"backends.{name}: environment variable {env} is not set or empty")
    return key
