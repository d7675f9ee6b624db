"""A running job's heartbeats: keep it claimed past the visibility timeout.

A durable queue hands a job whose worker has been silent for the visibility timeout to
another worker, and the vendor would be paid twice; so a job that runs long refreshes its
claim every `every` seconds (a third of the timeout). Most jobs end long before the first
one is due, so the heartbeats are a timer, not a task: a task per job (created, then
cancelled and waited for at its end) cost about 20 us of CPU a job, the timer about 2.
A task exists only while a heartbeat is being sent; the next is due `every` seconds
after it ended, as a loop of sleeps and heartbeats would have it.

A heartbeat that finds the delivery held by another consumer (this process stalled past
the timeout, and the job was reclaimed) stops the heartbeats and calls `on_lost`: the
worker stops its run, and the other consumer goes on. Until that heartbeat, the store
refuses the stalled worker's finish, requeue and defer (`StateStore.finish`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from gateway.errors import redact
from gateway.state.base import StateStore, StateUnavailable
from gateway.tasks import cancel_and_wait

log = logging.getLogger("imagegate.worker")


class Heartbeats:
    """`beats = Heartbeats(state, job_id, worker_id, every, on_lost)` starts them (None:
    never); `await beats.stop()` when the job's run has ended. `lost` says whether a
    heartbeat found the delivery gone (and `on_lost` was called)."""

    def __init__(
        self,
        state: StateStore,
        job_id: str,
        worker_id: str,
        every: float | None,
        on_lost: Callable[[], object],
    ) -> None:
        self.state = state
        self.job_id = job_id
        self.worker_id = worker_id
        self.every = every
        self.on_lost = on_lost
        self.lost = False
        self._loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = None
        self._sending: asyncio.Task[None] | None = None
        self._stopped = False
        self._schedule()

    def _schedule(self) -> None:
        if self.every is not None and not self._stopped:
            self._timer = self._loop.call_later(self.every, self._due)

    def _due(self) -> None:
        self._timer = None
        self._sending = self._loop.create_task(self._send(), name=f"heartbeat-{self.job_id}")

    async def _send(self) -> None:
        held = True
        try:
            held = await self.state.heartbeat(self.job_id, self.worker_id)
        except StateUnavailable as exc:
            log.warning("heartbeat for job %s failed: %s", self.job_id, exc)
        except Exception as exc:  # a bug: the next heartbeat may still keep the job
            log.error(
                "heartbeat for job %s failed unexpectedly: %s: %s",
                self.job_id,
                type(exc).__name__,
                redact(str(exc)),
            )
        self._sending = None
        if held or self._stopped:
            self._schedule()
            return
        log.warning(
            "job %s: its delivery is no longer this worker's (reclaimed after a stall past "
            "the visibility timeout, or ended); stopping this run",
            self.job_id,
        )
        self.lost = self._stopped = True
        self.on_lost()

    async def stop(self) -> None:
        """No heartbeat after this returns (one being sent is cancelled)."""
        self._stopped = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        await cancel_and_wait(self._sending)
