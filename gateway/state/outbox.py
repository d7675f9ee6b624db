"""The webhook outbox: the events of ended jobs still to be delivered, held by the state.

An event is the job itself: its `webhook` (a `WebhookState`) carries the URL and how
delivery is going, and `webhook.next_attempt_ms` (the store's clock) is when it is due. The
ending change writes it in the same atomic step as the terminal status (`Change.apply`;
the Redis `apply`), and every write of a job keeps the outbox index equal to it: due
time present -> indexed, absent -> not. Delivery is gateway/webhooks/dispatcher.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

from gateway.jobs import Job, WebhookState


class WebhookOutbox(Protocol):
    async def claim(self, limit: int, lease: float) -> list[Job]:
        """Up to `limit` due events, each leased for `lease` seconds (due again then, should
        its deliverer die) with its attempt counted in `webhook.attempts`."""
        ...

    async def record(
        self, job_id: str, attempts: int, webhook: WebhookState, retry_in: float | None
    ) -> Job | None:
        """Write `webhook` (due again in `retry_in` seconds, or never) if the stored state
        still has `attempts` attempts, i.e. no later claim took the event over; the job
        written, else None."""
        ...


def now_ms() -> int:
    return int(time.time() * 1000)


class MemoryOutbox:
    """The outbox of `memory://`: an index of due times over the store's jobs."""

    def __init__(self, get: Callable[[str], Job | None], put: Callable[[Job], None]) -> None:
        self._get = get
        self._put = put
        self.due: dict[str, int] = {}  # job id -> next attempt (epoch ms)

    def index(self, job: Job) -> None:
        """Called by the store on every write of a job."""
        if job.webhook is not None and job.webhook.next_attempt_ms is not None:
            self.due[job.id] = job.webhook.next_attempt_ms
        else:
            self.due.pop(job.id, None)

    async def claim(self, limit: int, lease: float) -> list[Job]:
        now = now_ms()
        ready = sorted((at, job_id) for job_id, at in self.due.items() if at <= now)[:limit]
        claimed = []
        for _, job_id in ready:
            job = self._get(job_id)
            if job is None or job.webhook is None:
                self.due.pop(job_id, None)
                continue
            webhook = job.webhook
            leased = replace(
                webhook, attempts=webhook.attempts + 1, next_attempt_ms=now + round(lease * 1000)
            )
            job = replace(job, webhook=leased)
            self._put(job)
            claimed.append(job)
        return claimed

    async def record(
        self, job_id: str, attempts: int, webhook: WebhookState, retry_in: float | None
    ) -> Job | None:
        job = self._get(job_id)
        if job is None or job.webhook is None or job.webhook.attempts != attempts:
            return None
        due = None if retry_in is None else now_ms() + round(retry_in * 1000)
        job = replace(job, webhook=replace(webhook, next_attempt_ms=due))
        self._put(job)
        return job
