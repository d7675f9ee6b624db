"""Cancel a job: by its client, at its deadline, or as part of a batch.

The store applies `jobs.cancel` atomically (gateway/state/base.py `cancel`, which settles
the money of what it ended in the same step); what it ended goes through the one finish
pipeline (webhook, live events, usage), and a
RUNNING job it could not end at once is woken: its worker watches the job and, once the
store has set `stop`, abandons the attempt (the backend's own cancel runs: Replicate's
`POST /v1/predictions/{id}/cancel`, fal's, ComfyUI's) and ends it CANCELED, charged what
its attempts were charged.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from backends.base import Backend, Cancellable
from gateway import jobs
from gateway.endings import Endings
from gateway.errors import redact
from gateway.events import JobEvents
from gateway.jobs import Job, JobError, VendorJob, utcnow
from gateway.state.base import Canceled, StateStore

log = logging.getLogger("imagegate.cancels")


async def cancel_vendor_job(backends: Mapping[str, Backend], vendor_job: VendorJob | None) -> None:
    """Cancel a vendor job nobody else will stop (its worker died), where the backend
    can: best effort, a failure is logged."""
    if vendor_job is None:
        return
    backend = backends.get(vendor_job.backend)
    if not isinstance(backend, Cancellable):
        return
    try:
        await backend.cancel(vendor_job.handle)
    except Exception as exc:
        log.warning("canceling %s's vendor job failed: %s", vendor_job.backend, redact(str(exc)))


class Stopped(Exception):
    """The execution a worker runs is to stop (its deadline passed, nobody waits)."""


class Cancels:
    def __init__(
        self,
        state: StateStore,
        endings: Endings,
        events: JobEvents,
        backends: Mapping[str, Backend] | None = None,
    ) -> None:
        self.state = state
        self.endings = endings
        self.events = events
        self.backends = backends or {}

    async def cancel(self, job_id: str, error: JobError, *, force: bool = False) -> Canceled:
        """Apply one cancel; settle and announce what it ended, wake what it changed."""
        outcome = await self.state.cancel(job_id, jobs.cancel(utcnow(), error, force=force))
        if force:  # its worker is gone: nobody else stops what it started at the vendor
            for forced in outcome.ended:
                await cancel_vendor_job(self.backends, forced.vendor_job)
        await self.endings.settle(outcome.ended)
        # What it ended, the job itself and the execution to stop (no store announces a
        # cancel: it is published here).
        touched: list[str | None] = [job.id for job in outcome.ended]
        touched += [outcome.job.id if outcome.job else None, outcome.stopping]
        woken = [job_id for job_id in dict.fromkeys(touched) if job_id is not None]
        if woken:
            await self.events.publish(woken)
        return outcome

    async def gate(self, job: Job) -> None:
        """Before each attempt: no attempt starts after the job's deadline. Past it, the
        deadline cancels the job; `Stopped` when that stops the execution (nobody else
        waits on it), else the attempt goes on for the jobs that still wait."""
        if job.deadline is None or utcnow() < job.deadline:
            return
        outcome = await self.cancel(job.id, jobs.deadline_exceeded())
        if outcome.stopping == job.id or outcome.job is None or outcome.job.status.terminal:
            raise Stopped(job.id)
