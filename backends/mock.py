"""`MockBackend`: a scriptable backend for tests (the way httpx ships `MockTransport`).

Each `generate` call takes the next outcome of its script (an empty script means success):

    backend = MockBackend(script=[RateLimited("slow down", retry_after=2), ok()])
    backend.will(Timeout("no answer", sent=True), delay(0.5), ok(usage=Usage(images=1)))

An outcome is a `BackendError` instance (raised), `ok(...)` (real PNGs drawn by the
procedural renderer, in the requested format unless `returns_format` says otherwise),
`delay(seconds, then)` or any async callable taking the request and the progress. Every
request is kept in `requests`; `active` / `peak` count concurrent calls. Like a well-behaved
vendor backend, a call cancelled after it reported a handle cancels that vendor job; handles
cancelled either way land in `canceled`.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from backends.base import (
    NO_PROGRESS,
    GeneratedImage,
    Generation,
    GenerationRequest,
    Progress,
    Usage,
)
from backends.capabilities import EVERYTHING, ModelCapabilities
from backends.errors import BackendError
from backends.procedural import render_all

Custom = Callable[[GenerationRequest, Progress], Awaitable[Generation]]


@dataclass(frozen=True)
class Ok:
    usage: Usage | None = None  # default: Usage(images=n)
    returns_format: str | None = None  # answer in this format whatever was asked
    handle: str | None = None  # reported through progress.submitted


@dataclass(frozen=True)
class Delay:
    seconds: float
    then: Outcome


Outcome = BackendError | Ok | Delay | Custom


def ok(
    usage: Usage | None = None, *, returns_format: str | None = None, handle: str | None = None
) -> Ok:
    return Ok(usage, returns_format, handle)


def delay(seconds: float, then: Outcome | None = None) -> Delay:
    return Delay(seconds, then if then is not None else Ok())


class MockBackend:
    """A backend whose answers a test scripts. Built directly; no config or network."""

    needs_key = False

    def __init__(
        self,
        name: str = "mock",
        *,
        script: list[Outcome] | None = None,
        capabilities: ModelCapabilities = EVERYTHING,
        before: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.name = name
        self.script: deque[Outcome] = deque(script or ())
        self.caps = capabilities
        self.before = before  # awaited at the start of every call (e.g. to break storage)
        self.requests: list[GenerationRequest] = []
        self.canceled: list[str] = []
        self.active = 0
        self.peak = 0
        self.closed = False

    @property
    def calls(self) -> int:
        return len(self.requests)

    def will(self, *outcomes: Outcome) -> None:
        self.script.extend(outcomes)

    def capabilities(self, model: str) -> ModelCapabilities:
        return self.caps

    async def generate(
        self, request: GenerationRequest, progress: Progress = NO_PROGRESS
    ) -> Generation:
        self.requests.append(request)
        self.active += 1
        self.peak = max(self.peak, self.active)
        tracked = _Tracked(progress)
        try:
            if self.before is not None:
                await self.before()
            outcome = self.script.popleft() if self.script else Ok()
            return await self._play(outcome, request, tracked)
        except asyncio.CancelledError:
            self.canceled.extend(tracked.handles)  # the attempt was abandoned: stop the job
            raise
        finally:
            self.active -= 1

    async def _play(
        self, outcome: Outcome, request: GenerationRequest, progress: Progress
    ) -> Generation:
        if isinstance(outcome, BackendError):
            raise outcome
        if isinstance(outcome, Delay):
            await asyncio.sleep(outcome.seconds)
            return await self._play(outcome.then, request, progress)
        if isinstance(outcome, Ok):
            if outcome.handle is not None:
                await progress.submitted(outcome.handle)
            drawn = request
            if outcome.returns_format is not None:
                drawn = replace(request, output_format=outcome.returns_format)
            images: list[GeneratedImage] = await render_all(drawn)
            return Generation(images, outcome.usage or Usage(images=len(images)))
        return await outcome(request, progress)

    async def cancel(self, handle: str) -> None:
        self.canceled.append(handle)

    async def aclose(self) -> None:
        self.closed = True


class _Tracked:
    """Progress that remembers the handles reported, so a cancelled call can cancel them."""

    def __init__(self, inner: Progress) -> None:
        self.inner = inner
        self.handles: list[str] = []

    async def submitted(self, handle: str) -> None:
        self.handles.append(handle)
        await self.inner.submitted(handle)

    async def partial(self, index: int, image: GeneratedImage) -> None:
        await self.inner.partial(index, image)
