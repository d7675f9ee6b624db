"""Job change notifications: "this job changed, read it again", across processes.

The job document in the state store stays the one truth; a notification only wakes whoever
watches the job, who then reads it. So a lost notification costs latency, never
correctness: watchers also wake every `timeout` they pass and read anyway. Watch *before*
reading the job, so a change between the read and the wait is not missed:

    async with events.watch(job_id) as watch:
        job = await state.get_job(job_id)
        while not job.status.terminal:
            await watch.changed(timeout=5.0)
            job = await state.get_job(job_id)
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from contextlib import AbstractAsyncContextManager
from typing import Protocol

# What a part that changes jobs is given to say so (`JobEvents.publish`): job ids.
Changed = Callable[[Iterable[str]], Awaitable[None]]


async def no_change(job_ids: Iterable[str]) -> None:
    return None


class Watch:
    """Wakes when one of the watched jobs changed (or the events source closed).

    A *progress* notification says the job moved on while it runs (claimed, an attempt
    recorded, a partial image, deferred): never an ending and never a request to stop.
    Whoever waits only for those (`changed(..., progress=False)`: a waiting caller, a
    worker's cancel watch) sleeps through it instead of reading the job again.
    """

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self._decisive = False  # a notification that was not progress came since
        self.job_ids: set[str] = set()
        self.closed = False

    def notify(self, progress: bool = False) -> None:
        if not progress:
            self._decisive = True
        self._event.set()

    def close(self) -> None:
        self.closed = True
        self._event.set()

    async def changed(self, timeout: float, *, progress: bool = True) -> bool:
        """Wait until a change since the last call (True), or `timeout` seconds (False);
        with `progress=False`, progress notifications do not count."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    await self._event.wait()
                    self._event.clear()
                    if progress or self._decisive or self.closed:
                        break
        except TimeoutError:
            return False
        self._decisive = False
        return True


class JobEvents(Protocol):
    async def publish(self, job_ids: Iterable[str], *, progress: bool = False) -> None:
        """Tell every watcher of these jobs, in any process, that they changed
        (`progress`: only moved on while running; see `Watch`)."""
        ...

    def watch(self, *job_ids: str) -> AbstractAsyncContextManager[Watch]:
        """Watch jobs; notifications published once this is entered reach the watch."""
        ...

    async def also(self, watch: Watch, job_id: str) -> None:
        """Add a job to an open watch (a follower also watches its leader's execution)."""
        ...

    async def aclose(self) -> None:
        """Close every open watch (their streams end) and release connections."""
        ...


class Registry:
    """Which watches wait on which job, in this process."""

    def __init__(self) -> None:
        self._watches: dict[str, set[Watch]] = {}

    def add(self, job_id: str, watch: Watch) -> bool:
        """Register; True when `job_id` had no watcher before (subscribe to it now)."""
        watch.job_ids.add(job_id)
        watches = self._watches.setdefault(job_id, set())
        watches.add(watch)
        return len(watches) == 1

    def drop(self, watch: Watch) -> list[str]:
        """Unregister; the job ids nobody watches any more (unsubscribe from them)."""
        unwatched = []
        for job_id in watch.job_ids:
            watches = self._watches.get(job_id)
            if watches is None:
                continue
            watches.discard(watch)
            if not watches:
                del self._watches[job_id]
                unwatched.append(job_id)
        return unwatched

    def notify(self, job_id: str, progress: bool = False) -> None:
        for watch in self._watches.get(job_id, ()):
            watch.notify(progress)

    def notify_all(self) -> None:
        for watches in self._watches.values():
            for watch in watches:
                watch.notify()

    def close_all(self) -> None:
        for watches in self._watches.values():
            for watch in watches:
                watch.close()
        self._watches.clear()

    @property
    def job_ids(self) -> list[str]:
        return list(self._watches)
