"""Deadlines: a job still unfinished at its deadline ends CANCELED (`deadline_exceeded`).

A job's deadline comes from `deadline` in its body (seconds from now) or a `Cancel-After`
header (a duration as the config writes them, `30s`, `5m`, `1h`, `500ms`, or Replicate's
`1h30m`). Three places enforce it:

- the runner's gate: no attempt starts after it (gateway/cancels.py `gate`);
- this sweep, in every gateway and worker process, about once a second: each job whose
  deadline has come (the store's deadline index, never a scan) is canceled with
  `deadline_exceeded`, so a PENDING job ends even when no worker ever picks it up; a
  RUNNING one is told to stop and its worker ends it;
- a RUNNING job whose worker has not ended it `grace` seconds later (the worker died) is
  ended by the sweep itself (a forced cancel).

A deadline ends its own job only: an execution other jobs still wait on goes on for them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timedelta

from gateway.cancels import Cancels
from gateway.errors import invalid_request
from gateway.jobs import JobStatus, deadline_exceeded, utcnow
from gateway.state.base import StateStore, StateUnavailable
from gateway.tasks import cancel_and_wait
from gateway.units import parse_duration

log = logging.getLogger("imagegate.deadlines")

SWEEP_EVERY = 1.0
BATCH = 100
MAX_DEADLINE = 7 * 24 * 3600  # no deadline further than a job lives anyway


def parse_cancel_after(text: str) -> float:
    """`Cancel-After` as seconds: any duration the config takes (`500ms`, `30s`, `5m`,
    `1h`, `7d`, and Replicate's compound `1h30m`); 400 naming the header otherwise."""
    try:
        return parse_duration(text)
    except ValueError:
        raise invalid_request(
            f"'Cancel-After' must be a duration like '30s', '5m', '1h' or '500ms' "
            f"(units ms, s, m, h, d), got {text.strip()[:40]!r}",
            "Cancel-After",
        ) from None


def deadline_at(seconds: float, param: str, now: datetime | None = None) -> datetime:
    """The moment `seconds` from now, checked: more than 0, at most `MAX_DEADLINE`."""
    if not 0 < seconds <= MAX_DEADLINE:
        raise invalid_request(
            f"{param!r} must be more than 0 and at most {MAX_DEADLINE} seconds", param
        )
    return (now or utcnow()) + timedelta(seconds=seconds)


class DeadlineSweep:
    def __init__(self, state: StateStore, cancels: Cancels, *, grace: float) -> None:
        self.state = state
        self.cancels = cancels
        self.grace = grace
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="deadline-sweep")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    async def sweep(self, now: float | None = None) -> int:
        """Cancel what is due now; how many jobs it looked at."""
        due = await self.state.due(time.time() if now is None else now, BATCH)
        for job_id in due:
            job = await self.state.get_job(job_id)
            if job is None or job.status.terminal:
                continue
            # A RUNNING job already told to stop had `grace` to be stopped by its worker.
            forced = job.status is JobStatus.RUNNING and job.stop
            outcome = await self.cancels.cancel(job_id, deadline_exceeded(), force=forced)
            if outcome.job is not None and not outcome.job.status.terminal:
                await self.state.postpone(job_id, time.time() + self.grace)
        return len(due)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_EVERY)
            try:
                await self.sweep()
            except StateUnavailable as exc:
                log.warning("deadline sweep skipped: %s", exc)
            except Exception as exc:  # the sweep must outlive any one bad job
                log.error("deadline sweep failed: %s: %s", type(exc).__name__, exc)
