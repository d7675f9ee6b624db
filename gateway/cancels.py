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

from gateway import jobs
from gateway.endings import Endings
from gateway.events import JobEvents
from gateway.jobs import Job, JobError, utcnow
from gateway.state.base import Canceled, StateStore


class Stopped(Exception):
    """The execution a worker runs is to stop (its deadline passed, nobody waits)."""


class Cancels:
    def __init__(self, state: StateStore, endings: Endings, events: JobEvents) -> None:
        self.state = state
        self.endings = endings
        self.events = events

    async def cancel(self, job_id: str, error: JobError, *, force: bool = False) -> Canceled:
        """Apply one cancel; settle and announce what it ended, wake what it changed."""
        outcome = await self.state.cancel(job_id, jobs.cancel(utcnow(), error, force=force))
        await self.endings.settle(outcome.ended)
        ended = {job.id for job in outcome.ended}
        woken = [
            job_id
            for job_id in (outcome.job.id if outcome.job else None, outcome.stopping)
            if job_id is not None and job_id not in ended
        ]
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
