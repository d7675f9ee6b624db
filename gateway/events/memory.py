"""`memory://` job events: watchers in this process, woken directly."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

from gateway.events.base import Registry, Watch


class MemoryJobEvents:
    def __init__(self) -> None:
        self._registry = Registry()

    async def publish(self, job_ids: Iterable[str], *, progress: bool = False) -> None:
        self.notify(job_ids, progress=progress)

    def notify(self, job_ids: Iterable[str], *, progress: bool = False) -> None:
        """Wake the watchers now (the memory store calls it in the step that wrote)."""
        for job_id in job_ids:
            self._registry.notify(job_id, progress)

    @asynccontextmanager
    async def watch(self, *job_ids: str) -> AsyncIterator[Watch]:
        watch = Watch()
        for job_id in job_ids:
            self._registry.add(job_id, watch)
        try:
            yield watch
        finally:
            self._registry.drop(watch)

    async def also(self, watch: Watch, job_id: str) -> None:
        self._registry.add(job_id, watch)

    async def aclose(self) -> None:
        self._registry.close_all()
