"""One claim loop per worker pool, claiming only while a worker is free.

Why one loop: with a loop per worker, every idle worker claims on its own, so a pool of 80
idle workers asks the queue 80 times every `CLAIM_WAIT` (on `redis://` a TAKE script and a
blocking XREADGROUP each, on 80 blocking connections) to learn the same thing, that
nothing is waiting; that polling was about a tenth of the worker path's CPU. One loop asks
once for the whole pool.

Why only while a worker is free: the loop takes a free slot (`concurrency` of them) before
it claims, and a job it gets starts at once on that slot; it never claims ahead. A claimed
job is RUNNING and leased to this process, so one held back waiting for a worker would be
delayed while other processes sit idle and, on `memory://`, lost at shutdown. While every
worker is busy nothing is claimed, and the jobs stay in the queue for other processes.

One consumer name for the pool is enough: on `redis://` everything a delivery needs is per
stream entry, not per consumer: its idle clock (a heartbeat XCLAIMs the entry to the same
name with min-idle 0), the reclaim of a stale entry by whoever claims next (XPENDING IDLE,
then XCLAIM to that claimer's name), and `finish`/`requeue` (XACK and XDEL by the entry id
recorded on the job). `memory://` ignores the name.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from gateway.jobs import Job
from gateway.metrics import Metrics
from gateway.state.base import StateStore, StateUnavailable

log = logging.getLogger("imagegate.worker")

CLAIM_WAIT = 1.0  # seconds a claim blocks before the loop checks for shutdown
BACKOFF_FIRST = 0.1
BACKOFF_MAX = 5.0


class Claimer:
    """Claims jobs for `workers` slots and starts each on its own task (`start(job)`).

    The slot is given back when that task ends, so at most `workers` jobs run at once and
    at most one claim is in flight. `run()` returns once `stopping` is set (after the claim
    in flight, at most `CLAIM_WAIT` later); it is cancelled when a shutdown cannot wait.
    """

    def __init__(
        self,
        state: StateStore,
        consumer: str,
        workers: int,
        start: Callable[[Job], asyncio.Task[None]],
        *,
        stopping: asyncio.Event,
        metrics: Metrics,
    ) -> None:
        self.state = state
        self.consumer = consumer
        self.start = start
        self.stopping = stopping
        self.metrics = metrics
        self._slots = asyncio.Semaphore(workers)

    async def run(self) -> None:
        backoff = BACKOFF_FIRST
        while not self.stopping.is_set():
            await self._slots.acquire()
            try:
                job = None
                if not self.stopping.is_set():
                    job = await self.state.claim(self.consumer, CLAIM_WAIT)
                backoff = BACKOFF_FIRST
            except StateUnavailable as exc:
                self._slots.release()
                self.metrics.state_error("worker")
                log.warning("state unavailable, retrying in %.1fs: %s", backoff, exc)
                await asyncio.sleep(backoff)
                backoff = min(BACKOFF_MAX, backoff * 2)
                continue
            except BaseException:
                self._slots.release()
                raise
            if job is None:
                self._slots.release()
                continue
            self.start(job).add_done_callback(self._release)

    def _release(self, _: asyncio.Task[None]) -> None:
        self._slots.release()
