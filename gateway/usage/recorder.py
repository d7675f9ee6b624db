"""From ended jobs to usage deltas: the finish pipeline's hook that writes usage records.

The pipeline hands each job to its hooks once (whoever ended it; a cached job once, at
birth), so each job is counted once. An executed job adds, per backend it made attempts at,
one job, its attempts and their charges (the images go to the backend that delivered
them); a job that succeeded from the cache or by joining adds one saved job and the
estimate its first attempt would have reserved.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal

from gateway.jobs import Job, JobSpec, JobStatus, utcnow
from gateway.money.format import to_micros
from gateway.state.base import CachedBirth
from gateway.usage.base import UsageDelta, UsageKey, UsageStore

# The first target's backend of a job's route, and its first attempt's estimate.
FirstTarget = Callable[[JobSpec], tuple[str, Decimal]]


def made(outcome: str) -> bool:
    """Whether an attempt's outcome is a backend call (a skipped target is not)."""
    return not outcome.startswith("unsupported_")


def job_deltas(job: Job, first_target: FirstTarget) -> list[UsageDelta]:
    day = (job.finished_at or utcnow()).astimezone(UTC).date()
    calls = [attempt for attempt in job.attempts if made(attempt.outcome)]
    if not calls:
        return _saved(job, day, first_target)
    by_backend: dict[str, dict[str, int]] = {}
    for attempt in calls:
        counts = by_backend.setdefault(attempt.backend, {"jobs": 1})
        counts["attempts"] = counts.get("attempts", 0) + 1
        counts["charged_micros"] = counts.get("charged_micros", 0) + to_micros(attempt.cost)
    result = job.result
    if job.status is JobStatus.SUCCEEDED and result is not None and result.backend in by_backend:
        by_backend[result.backend]["images"] = len(result.images)
    return [
        UsageDelta(UsageKey(day, job.tenant, job.spec.model, backend), counts)
        for backend, counts in by_backend.items()
    ]


def _saved(job: Job, day: date, first_target: FirstTarget) -> list[UsageDelta]:
    saved = job.cached or job.leader_id is not None
    if not saved or job.status is not JobStatus.SUCCEEDED:
        return []
    try:
        target = first_target(job.spec)
    except LookupError:  # the model or its backend left the config since
        return []
    return saved_usage(job.tenant, job.spec.model, day, target)


def saved_usage(
    tenant: str, model: str, day: date, target: tuple[str, Decimal]
) -> list[UsageDelta]:
    """One job that succeeded without a call of its own, and the estimate its first
    attempt would have reserved at `target` (its route's first backend, that estimate)."""
    backend, estimate = target
    counts = {"saved_jobs": 1, "saved_micros": to_micros(estimate)}
    return [UsageDelta(UsageKey(day, tenant, model, backend), counts)]


def birth_usage(
    tenant: str, spec: JobSpec, at: datetime, target: tuple[str, Decimal]
) -> CachedBirth:
    """What a job submitted now records if the store answers it from the result cache:
    its ending time and its saved usage on that UTC day (as `job_deltas` counts it)."""
    day = at.astimezone(UTC).date()
    return CachedBirth(at, tuple(saved_usage(tenant, spec.model, day, target)))


class UsageRecorder:
    """`Endings` hook: `await recorder(ended_jobs)`.

    A job born from the cache is skipped: its submit wrote its usage in the same atomic
    step that stored it (`CachedBirth`), so it is counted once, and never lost between a
    stored job and a separate write."""

    def __init__(self, store: UsageStore, first_target: FirstTarget) -> None:
        self.store = store
        self.first_target = first_target

    async def __call__(self, jobs: list[Job]) -> None:
        deltas = [
            delta for job in jobs if not job.cached for delta in job_deltas(job, self.first_target)
        ]
        if deltas:
            await self.store.add(deltas)
