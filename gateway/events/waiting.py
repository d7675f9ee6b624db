"""Wait for a job to end without a poll loop (for `Prefer: wait` and the /v1 surface).

Watches the job (and, for a follower, its leader's execution) before each read, so the
ending cannot slip between the read and the wait; reads again on each notification that
is not mere progress (claimed, an attempt: see `Watch`), and every `REREAD_EVERY` seconds
in case one was lost.
"""

from __future__ import annotations

import asyncio

from gateway.events.base import JobEvents
from gateway.jobs import Job
from gateway.state.base import StateStore

REREAD_EVERY = 5.0


async def wait_until_ended(
    state: StateStore, events: JobEvents, job_id: str, timeout: float
) -> Job | None:
    """The job once it has ended, or as it is when `timeout` seconds have passed (None
    when there is no such job). Never raises for a timeout: the caller sees the status."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with events.watch(job_id) as watch:
        job = await state.get_job(job_id)
        while job is not None and not job.status.terminal:
            if job.leader_id is not None and job.leader_id not in watch.job_ids:
                await events.also(watch, job.leader_id)
            remaining = deadline - loop.time()
            if remaining <= 0 or watch.closed:
                break
            await watch.changed(min(remaining, REREAD_EVERY), progress=False)
            job = await state.get_job(job_id)
        return job
