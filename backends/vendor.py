"""What every HTTP vendor backend shares, so each vendor module only speaks its wire format.

`VendorBackend` holds the resolved key, bounds each attempt by `config.timeout`, checks
returned bytes as images (and fits them to the requested size), downloads result URLs
through the injected `download` and fans single-image calls out for vendors without an `n`
field. Subclasses set `Options`, implement `capabilities(model)` and `_generate`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, ClassVar, Generic, TypeVar

import httpx
from pydantic import BaseModel

from backends.base import (
    NO_PROGRESS,
    BackendConfig,
    BackendDeps,
    GeneratedImage,
    Generation,
    GenerationRequest,
    ModelCapabilities,
    NoOptions,
    Progress,
    Usage,
)
from backends.errors import BackendError, BadImage, Timeout
from backends.http_errors import clean, status_error, transport_errors
from backends.imaging import FORMATS, NotAnImage, conform, inspect_inline

OptionsT = TypeVar("OptionsT", bound=BaseModel)


class VendorBackend(Generic[OptionsT]):
    vendor: ClassVar[str]  # the name used in error messages
    default_base_url: ClassVar[str]
    Options: ClassVar[type[BaseModel]] = NoOptions
    needs_key: ClassVar[bool] = True

    def __init__(self, config: BackendConfig[OptionsT], deps: BackendDeps) -> None:
        if self.needs_key and not config.api_key:
            raise ValueError(f"backends.{config.name}: the {self.vendor} API key is missing")
        self.name = config.name
        self.config = config
        self.options: OptionsT = config.options
        self.http = deps.http
        self._download = deps.download
        self.base_url = (config.base_url or self.default_base_url).rstrip("/")
        self._key = config.api_key or ""
        # Connect gets less than the whole attempt so that a connect that hangs surfaces as
        # ConnectTimeout (nothing sent, not charged) before the attempt's deadline does.
        self.timeout = httpx.Timeout(config.timeout, connect=min(config.timeout / 2, 10.0))

    def capabilities(self, model: str) -> ModelCapabilities:
        return ModelCapabilities()

    async def generate(
        self, request: GenerationRequest, progress: Progress = NO_PROGRESS
    ) -> Generation:
        """One attempt, bounded by `config.timeout`."""
        try:
            async with asyncio.timeout(self.config.timeout):
                return await self._generate(request, progress)
        except TimeoutError as exc:
            # The request went out: the vendor may bill it.
            raise Timeout(
                f"{self.vendor}: no result within {self.config.timeout:g}s", sent=True
            ) from exc

    async def _generate(self, request: GenerationRequest, progress: Progress) -> Generation:
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
        exhausted: bool = False,
        billed: bool = False,
    ) -> BackendError:
        return status_error(
            self.vendor,
            response.status_code,
            detail,
            headers=response.headers,
            rejected=rejected,
            exhausted=exhausted,
            billed=billed,
            secrets=(self._key,),
        )

    async def download(self, url: str) -> bytes:
        """Fetch a result the vendor already billed for, through the host's guarded download
        (no Authorization header: result URLs are presigned, often on another host)."""
        with transport_errors(self.vendor, billed=True):
            response = await self._download(url, self.config.timeout)
        if response.status_code != 200:
            # Detail left out on purpose: storage errors echo the presigned URL.
            raise self.error(response, "downloading the result failed", billed=True)
        return response.content

    async def image(self, data: bytes, request: GenerationRequest) -> GeneratedImage:
        """Whole-image check plus fit to the requested size. The check stays on the event
        loop unless it must decode a large image (`inspect_inline`); a fit goes to a thread.
        The image carries the check's answer, so the host does not check it again."""
        size = (request.width, request.height)
        try:
            checked = inspect_inline(data)
            if checked is not None and (checked.width, checked.height) == size:
                info = checked
            else:
                data, info = await asyncio.to_thread(conform, data, *size, checked)
        except NotAnImage as exc:
            raise BadImage(f"{self.vendor} returned bytes that are not a whole image") from exc
        media_type = FORMATS[info.format][1] if info.format in FORMATS else f"image/{info.format}"
        return GeneratedImage(data, media_type, checked=info)

    async def fan_out(
        self, n: int, one: Callable[[int], Coroutine[Any, Any, Generation]]
    ) -> Generation:
        """`n` single-image calls run concurrently (for vendors without an `n` field); their
        images and usage are added up.

        Concurrent rather than sequential: latency stays that of one call. If one fails the
        rest are cancelled, and the failure is charged since siblings were already sent.
        """
        if n == 1:
            return await one(0)
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(one(index)) for index in range(n)]
        except* BackendError as failures:
            first = failures.exceptions[0]
            assert isinstance(first, BackendError)
            error = first.as_billed()
            raise error from None
        parts = [task.result() for task in tasks]
        images = [image for part in parts for image in part.images]
        return Generation(images, sum((part.usage for part in parts), Usage()))
