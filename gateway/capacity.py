"""How many calls a backend may have in flight: `[backends.NAME] max_concurrency`.

`Capacity.slot(backend)` holds one of the backend's slots for the duration of a call, or
raises `CapacityFull` at once (the job is then deferred: gateway/deferral.py; no worker
waits for a slot). `concurrency_scope` chooses where the cap is counted:

- `"process"` (default): `LocalCapacity`, an asyncio semaphore per backend in this process.
- `"global"`: across every process sharing the state's Redis (`RedisCapacity`, below). On
  `memory://` there is one process, so the local semaphore is already the global cap.

A backend without `max_concurrency` is free.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from gateway.settings import Settings


class CapacityFull(Exception):
    """Every slot of `backend` is taken."""

    def __init__(self, backend: str) -> None:
        super().__init__(f"backend {backend!r} has no free concurrency slot")
        self.backend = backend


class Capacity(Protocol):
    def slot(self, backend: str) -> AbstractAsyncContextManager[None]:
        """Hold one of `backend`'s slots; raises `CapacityFull` (never waits) when none is free."""
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
        if slots.locked():
            raise CapacityFull(backend)
        async with slots:  # free, so this takes it without waiting
            yield

    async def aclose(self) -> None:
        return None


class ScopedCapacity:
    """Each backend's slots counted where its `concurrency_scope` says."""

    def __init__(self, local: Capacity, shared: Capacity, global_backends: set[str]) -> None:
        self.local = local
        self.shared = shared
        self.global_backends = global_backends

    def slot(self, backend: str) -> AbstractAsyncContextManager[None]:
        chosen = self.shared if backend in self.global_backends else self.local
        return chosen.slot(backend)

    async def aclose(self) -> None:
        await self.local.aclose()
        await self.shared.aclose()


def capacity_from_settings(settings: Settings) -> Capacity:
    """Local semaphores, plus Redis leases for `global` backends when the state is Redis."""
    backends = settings.backends
    local = LocalCapacity({name: b.max_concurrency for name, b in backends.items()})
    shared = {name for name, b in backends.items() if b.concurrency_scope == "global"}
    if not shared or settings.state.url.startswith("memory://"):
        return local
    from gateway.capacity_redis import RedisCapacity

    caps = {name: (backends[name].max_concurrency or 1) for name in shared}
    leases = {name: backends[name].concurrency_lease for name in shared}
    return ScopedCapacity(local, RedisCapacity.from_url(settings.state.url, caps, leases), shared)
