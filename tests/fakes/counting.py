"""A local backend for storage tests: counts generate calls, can run a hook before
answering (e.g. take the S3 server down), and can answer in one fixed format like a
vendor that only ever returns PNG."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace

from backends.base import GeneratedImage, GenerationRequest
from backends.procedural import render_all


class CountingBackend:
    def __init__(
        self,
        name: str = "procedural",
        *,
        returns_format: str | None = None,
        before: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.name = name
        self.returns_format = returns_format
        self.before = before
        self.calls = 0

    async def generate(self, request: GenerationRequest) -> list[GeneratedImage]:
        self.calls += 1
        if self.before is not None:
            await self.before()
        if self.returns_format is not None:
            request = replace(request, output_format=self.returns_format)
        return await render_all(request)

    async def aclose(self) -> None:
        return None
