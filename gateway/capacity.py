"""How many calls a backend may have in flight: `[backends.NAME] max_concurrency`.

`Capacity.slot(backend)` holds one of the backend's slots for the duration of a call.
`LocalCapacity` caps per process (asyncio semaphores); a backend without a cap is free.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol


class Capacity(Protocol):
    def slot(self, backend: str) -> AbstractAsyncContextManager[None]:
        """Hold one of `backend`'s concurrency slots (waits for one)."""
        ...

    async def aclose(self) -> None: ...


class LocalCapacity:
    """Per-process caps."""

    def __init__(self, caps: Mapping[str, int | None]) -> None:
        self._slots = {name: asyncio.Semaphore(cap) for name, cap in caps.items() if cap}

    @asynccontextmanager
    async def slot(self, backend: str) -> AsyncIterator[None]:
        slots = self._slots.get(backend)
        if slots is None:
            yield
            return
        async with slots:
            yield

    async def aclose(self) -> None:
        return None
