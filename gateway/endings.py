"""The one finish pipeline: every ending of a job (success, failure, `worker_lost`, cancel,
deadline) is written by the store's compare-and-set, which settles the job's budget
reservations in the same atomic step, then announced.

Only the caller whose change the store applied gets the ended jobs back, so each job is
announced once, whoever ended it (a worker, another process's cancel, a reclaim).
Announcing runs the hooks in order (metrics, webhooks, usage records); a failing hook is
logged and never stops the others. Watchers of the jobs were told by the store, in the step
that ended them (`StateStore.events`); a cancel's are told by gateway/cancels.py.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable

from gateway.errors import redact
from gateway.jobs import Job, JobError, JobResult
from gateway.state.base import StateStore

log = logging.getLogger("imagegate.endings")

OnEnded = Callable[[list[Job]], Awaitable[None]]


class Endings:
    def __init__(self, state: StateStore, hooks: Iterable[OnEnded] = ()) -> None:
        self.state = state
        self.hooks: list[OnEnded] = list(hooks)

    def subscribe(self, hook: OnEnded) -> None:
        """Call `hook` with every batch of jobs that ended."""
        self.hooks.append(hook)

    async def finish(
        self,
        job_id: str,
        outcome: JobResult | JobError,
        *,
        worker_id: str | None = None,
        delivery: int | None = None,
    ) -> list[Job]:
        """End an execution with its outcome (the job and every job following it).

        A worker passes its consumer name and its delivery's number: the store ends nothing
        (and this returns []) once the job's latest delivery is not that one
        (`StateStore.finish`)."""
        result, error = (outcome, None) if isinstance(outcome, JobResult) else (None, outcome)
        ended = await self.state.finish(
            job_id, result=result, error=error, worker_id=worker_id, delivery=delivery
        )
        await self.settle(ended)
        return ended

    async def settle(self, ended: list[Job]) -> None:
        """What follows an ending written by this caller (the store has already settled
        the jobs' money): announce them."""
        await self.announce(ended)

    async def announce(self, ended: list[Job]) -> None:
        """Tell the hooks about jobs that ended (also jobs born ended: a cached result)."""
        if not ended:
            return
        for hook in self.hooks:
            try:
                await hook(ended)
            except Exception as exc:
                log.error("an ending hook failed: %s: %s", type(exc).__name__, redact(str(exc)))
