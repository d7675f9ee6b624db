"""One claim loop per worker pool, claiming only while a worker is free.

Why one loop: with a loop per worker, every idle worker claims on its own, so a pool of 80
idle workers asks the queue 80 times every `CLAIM_WAIT` (on `redis://` a TAKE script and a
blocking XREADGROUP each, on 80 blocking connections) to learn the same thing, that
nothing is waiting; that polling was about a tenth of the worker path's CPU. One loop asks
once for the whole pool.

Why only while a worker is free: each claim holds a free worker's slot (`concurrency` of
them), and a job it gets starts at once on that slot; nothing is claimed ahead. A claimed
job is RUNNING and leased to this process, so one held back waiting for a worker would be
delayed while other processes sit idle and, on `memory://`, lost at shutdown. While every
worker is busy nothing is claimed, and the jobs stay in the queue for other processes.

Why claims may overlap: one claim at a time serialises a claim's round trips (on `redis://`
TAKE, the blocking read and START) per job, which capped a busy process at about 110 short
jobs a second on a loaded machine where claims from 80 loops reached 170. So while claims
find work the loop keeps up to twice as many in flight as the last time (at most
`MAX_CLAIMS`, never more than the free workers); one that finds nothing brings it back to
one, so an idle pool waits on a single claim again within `CLAIM_WAIT`.

One consumer name for the pool is enough: on `redis://` everything a delivery needs is per
stream entry, not per consumer: its idle clock (a heartbeat XCLAIMs the entry to the same
name with min-idle 0, while that name holds it), the reclaim of a stale entry by whoever
claims next (XPENDING IDLE, then XCLAIM to that claimer's name), and `finish`/`requeue`
(XACK and XDEL by the entry id recorded on the job). `memory://` ignores the name.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from gateway.errors import redact
from gateway.jobs import Job
from gateway.metrics import Metrics
from gateway.state.base import StateStore, StateUnavailable
from gateway.tasks import cancel_and_wait

log = logging.getLogger("imagegate.worker")

CLAIM_WAIT = 1.0  # seconds a claim blocks before the loop checks for shutdown
MAX_CLAIMS = 8  # claims in flight at most, while they keep finding work
BACKOFF_FIRST = 0.1
BACKOFF_MAX = 5.0


class Claimer:
    """Claims jobs for `workers` slots and starts each on its own task (`start(job)`).

    A claim holds a slot; a job keeps it until its task ends, so at most `workers` jobs run
    at once. `run()` returns once `stopping` is set and the claims in flight have ended (at
    most `CLAIM_WAIT` later), every job they got started; it is cancelled when a shutdown
    cannot wait.
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
        self._free = workers
        self._freed = asyncio.Event()
        self._backoff = BACKOFF_FIRST

    async def run(self) -> None:
        claims: set[asyncio.Task[Job | None]] = set()
        width = 1  # claims to keep in flight
        try:
            while claims or not self.stopping.is_set():
                while len(claims) < width and self._free and not self.stopping.is_set():
                    self._free -= 1
                    claims.add(asyncio.create_task(self._claim()))
                if not claims:  # every worker busy (or stopping): wait for one
                    self._freed.clear()
                    await self._freed.wait()
                    continue
                done, claims = await asyncio.wait(claims, return_when=asyncio.FIRST_COMPLETED)
                for claim in done:
                    if (job := claim.result()) is None:
                        self._release()
                        width = 1
                    else:
                        self.start(job).add_done_callback(self._release)
                        width = min(MAX_CLAIMS, width * 2)
        finally:
            await cancel_and_wait(*claims)

    async def _claim(self) -> Job | None:
        """One claim; None when nothing came, or after a back-off when it failed: the state
        is down, or answered something unexpected (an error Redis gives for a while, such
        as OOM, or a bug). One loop claims for every worker, so no failure may end it."""
        backoff = self._backoff
        try:
            job = await self.state.claim(self.consumer, CLAIM_WAIT)
        except StateUnavailable as exc:
            self.metrics.state_error("worker")
            log.warning("state unavailable, retrying in %.1fs: %s", backoff, exc)
        except Exception as exc:
            self.metrics.state_error("worker")
            log.error(
                "claim failed unexpectedly, retrying in %.1fs: %s: %s",
                backoff,
                type(exc).__name__,
                redact(str(exc)),
            )
        else:
            self._backoff = BACKOFF_FIRST
            return job
        # From the value this claim began with: claims that fail together double it once.
        self._backoff = min(BACKOFF_MAX, backoff * 2)
        await asyncio.sleep(backoff)
        return None

    def _release(self, _: object = None) -> None:
        self._free += 1
        self._freed.set()
