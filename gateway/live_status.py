"""Live status of one job: its status changes and attempts as they happen, then the end.

`follow()` is the use case behind `GET /images/jobs/{id}/events`. It watches the job
before reading it (so no change slips between the read and the wait), then after each
notification, or every `REREAD_EVERY` seconds without one, reads the job again and turns
what changed since the last read into events. Event ids are a cursor over the job
(`<deliveries>.<attempts>.<status>`), so a client that reconnects with `Last-Event-ID`
gets only what it has not seen. A follower (a job joined to another's execution) also
watches its leader, whose changes are its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any, Protocol

from gateway.events import JobEvents, Watch
from gateway.jobs import Job, JobStatus
from gateway.money.format import usd
from gateway.state.base import StateStore, StateUnavailable

REREAD_EVERY = 5.0


class Stop(Protocol):
    """An event that asks the stream to end (asyncio's or anyio's)."""

    async def wait(self) -> Any: ...  # seconds; the fallback when a notification is lost


@dataclass(frozen=True)
class Seen:
    """How far a client has followed the job: the cursor that event ids carry."""

    deliveries: int = -1  # -1: nothing seen yet
    attempts: int = 0
    status: str = ""

    @property
    def event_id(self) -> str:
        return f"{self.deliveries}.{self.attempts}.{self.status}"

    @classmethod
    def parse(cls, last_event_id: str | None) -> Seen:
        """The cursor of a `Last-Event-ID`; one this gateway did not issue starts over."""
        parts = (last_event_id or "").strip().split(".")
        if len(parts) != 3 or parts[2] not in JobStatus.__members__:
            return cls()
        try:
            deliveries, attempts = int(parts[0]), int(parts[1])
        except ValueError:
            return cls()
        if deliveries < 0 or attempts < 0:
            return cls()
        return cls(deliveries, attempts, parts[2])


@dataclass(frozen=True)
class LiveEvent:
    """One server-sent event: `kind` is status, attempt, job (the final document) or error."""

    kind: str
    id: str | None
    data: dict[str, Any]
    job: Job | None = None  # for "job": the document is rendered by the surface


def changes(seen: Seen, job: Job) -> tuple[list[LiveEvent], Seen]:
    """What `job` shows that a client at `seen` has not seen, and the cursor after it.

    A status change comes before the attempts recorded since; on a finished job the
    attempts come first, then its final status (attempts happen while it runs)."""
    events: list[LiveEvent] = []
    status_changed = (job.deliveries, job.status.value) != (seen.deliveries, seen.status)

    def status_event() -> None:
        nonlocal seen
        seen = replace(seen, deliveries=job.deliveries, status=job.status.value)
        events.append(
            LiveEvent("status", seen.event_id, {"jobId": job.id, "status": job.status.value})
        )

    if status_changed and not job.status.terminal:
        status_event()
    for number, attempt in enumerate(job.attempts[seen.attempts :], start=seen.attempts + 1):
        seen = replace(seen, attempts=number)
        events.append(
            LiveEvent(
                "attempt",
                seen.event_id,
                {
                    "jobId": job.id,
                    "attempt": number,
                    "backend": attempt.backend,
                    "model": attempt.model,
                    "outcome": attempt.outcome,
                    "cost": usd(attempt.cost),
                    "durationMs": attempt.duration_ms,
                },
            )
        )
    if status_changed and job.status.terminal:
        status_event()
    return events, seen


async def follow(
    state: StateStore, events: JobEvents, job_id: str, seen: Seen, stop: Stop | None = None
) -> AsyncIterator[LiveEvent]:
    """Events until the job ends (then its final document), it vanishes, or `stop` is set
    (the server shuts down: the client resumes with `Last-Event-ID` at another process)."""
    try:
        async with events.watch(job_id) as watch:
            closer = asyncio.create_task(_close_on(stop, watch)) if stop is not None else None
            try:
                async for event in _followed(state, events, watch, job_id, seen):
                    yield event
            finally:
                if closer is not None:
                    closer.cancel()
    except StateUnavailable:
        yield _error("state_unavailable", "the state store is unavailable; reconnect")


async def _followed(
    state: StateStore, events: JobEvents, watch: Watch, job_id: str, seen: Seen
) -> AsyncIterator[LiveEvent]:
    while True:
        job = await state.get_job(job_id)
        if job is None:
            yield _error("job_not_found", "the job expired")
            return
        news, seen = changes(seen, job)
        for event in news:
            yield event
        if job.status.terminal:
            yield LiveEvent("job", seen.event_id, {}, job)
            return
        if job.leader_id is not None and job.leader_id not in watch.job_ids:
            await events.also(watch, job.leader_id)
        await watch.changed(REREAD_EVERY)
        if watch.closed:
            return


async def _close_on(stop: Stop, watch: Watch) -> None:
    await stop.wait()
    watch.close()


def _error(code: str, message: str) -> LiveEvent:
    return LiveEvent("error", None, {"code": code, "message": message})
