"""`memory://`: the embedded default. One process, API and workers together, nothing to install.

Each method runs to completion without awaiting in the middle, which is what makes it
atomic on one event loop. Entries expire lazily (on access) and in a periodic sweep.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import replace

from gateway.jobs import Attempt, Job, JobError, JobResult, JobStatus
from gateway.state.base import BudgetRefused, ConcurrencyLimited, Reservation

ACTIVE = (JobStatus.PENDING, JobStatus.RUNNING)


class MemoryState:
    def __init__(self, *, job_ttl: float, cache_ttl: float) -> None:
        self.job_ttl = job_ttl
        self.cache_ttl = cache_ttl
        self._jobs: dict[str, tuple[float, Job]] = {}
        self._cache: dict[str, tuple[float, JobResult]] = {}
        self._inflight: dict[str, str] = {}  # fingerprint -> leader job id
        self._followers: dict[str, list[str]] = {}  # leader job id -> follower ids
        # tenant -> {id of a PENDING/RUNNING job: when it expires}; finish removes entries,
        # and expired ones are pruned only once the earliest expiry has passed.
        self._active: dict[str, dict[str, float]] = {}
        self._budgets: dict[str, tuple[float, int]] = {}  # key -> (expires, micro-dollars)
        self._queue: deque[str] = deque()
        self._ready = asyncio.Condition()
        self._next_sweep = time.monotonic() + 60

    # -- jobs -------------------------------------------------------------------------
    def _get(self, job_id: str) -> Job | None:
        entry = self._jobs.get(job_id)
        if entry is None:
            return None
        expires, job = entry
        if expires < time.monotonic():
            del self._jobs[job_id]
            return None
        return job

    def _put(self, job: Job) -> None:
        self._jobs[job.id] = (time.monotonic() + self.job_ttl, job)

    async def get_job(self, job_id: str) -> Job | None:
        return self._get(job_id)

    async def submit(
        self, job: Job, *, max_active: int | None = None, reservation: Reservation | None = None
    ) -> Job:
        self._sweep()
        existing = self._get(job.id)
        if existing is not None:
            return existing
        reserved, job = job.reserved, replace(job, reserved={})  # kept only if it will run
        if not job.spec.no_cache:
            cached = self._cached(job.fingerprint)
            if cached is not None:
                job = job.transition(JobStatus.SUCCEEDED, cached=True, result=cached)
                self._put(job)
                return job
        if max_active is not None and self._active_count(job.tenant) >= max_active:
            raise ConcurrencyLimited(job.tenant)
        leader = self._leader(job.fingerprint)
        if leader is not None and not job.spec.no_cache:
            job = replace(
                job, leader_id=leader.id, status=leader.status, started_at=leader.started_at
            )
            self._followers.setdefault(leader.id, []).append(job.id)
            self._put(job)
            self._activate(job)
            return job
        if reservation is not None:
            if not self._reserve(reservation):
                raise BudgetRefused(job.tenant)
            job = replace(job, reserved=reserved)
        if leader is None:  # also replaces a leader that expired without finishing
            self._inflight[job.fingerprint] = job.id
        self._put(job)
        self._activate(job)
        self._queue.append(job.id)
        await self._notify()
        return job

    async def claim(self, worker_id: str, timeout: float) -> Job | None:
        async with self._ready:
            try:
                await asyncio.wait_for(self._ready.wait_for(lambda: bool(self._queue)), timeout)
            except TimeoutError:
                return None
            job_id = self._queue.popleft()
        job = self._get(job_id)
        if job is None or job.status is not JobStatus.PENDING:
            return None
        job = job.transition(JobStatus.RUNNING, deliveries=job.deliveries + 1)
        self._put(job)
        for follower_id in self._followers.get(job_id, ()):
            follower = self._get(follower_id)
            if follower is not None and follower.status is JobStatus.PENDING:
                self._put(follower.transition(JobStatus.RUNNING))
        return job

    async def heartbeat(self, job_id: str, worker_id: str) -> None:
        return None  # nothing is ever reclaimed in one process

    async def add_attempt(self, job_id: str, attempt: Attempt) -> None:
        job = self._get(job_id)
        if job is not None and not job.status.terminal:
            self._put(replace(job, attempts=(*job.attempts, attempt)))

    async def finish(
        self, job_id: str, *, result: JobResult | None = None, error: JobError | None = None
    ) -> list[Job]:
        job = self._get(job_id)
        if job is None or job.status.terminal:
            return []
        status = JobStatus.SUCCEEDED if result is not None else JobStatus.FAILED
        finished = [job.transition(status, result=result, error=error)]
        for follower_id in self._followers.pop(job_id, ()):
            follower = self._get(follower_id)
            if follower is not None and not follower.status.terminal:
                finished.append(follower.transition(status, result=result, error=error))
        for each in finished:
            self._put(each)
            self._active.get(each.tenant, {}).pop(each.id, None)
        if self._inflight.get(job.fingerprint) == job_id:
            del self._inflight[job.fingerprint]
        if result is not None:
            self._cache[job.fingerprint] = (time.monotonic() + self.cache_ttl, result)
        return finished

    async def requeue(self, job_id: str) -> None:
        job = self._get(job_id)
        if job is None or job.status is not JobStatus.RUNNING:
            return
        self._put(job.transition(JobStatus.PENDING))
        for follower_id in self._followers.get(job_id, ()):
            follower = self._get(follower_id)
            if follower is not None and follower.status is JobStatus.RUNNING:
                self._put(follower.transition(JobStatus.PENDING))
        self._queue.appendleft(job_id)
        await self._notify()

    async def reserve(self, reservation: Reservation) -> bool:
        return self._reserve(reservation)

    async def refund(self, key: str, amount: int) -> None:
        expires, spent = self._budgets.get(key, (0.0, 0))
        self._budgets[key] = (expires, max(0, spent - amount))

    async def spent(self, key: str) -> int:
        expires, spent = self._budgets.get(key, (0.0, 0))
        return spent if expires >= time.monotonic() else 0

    async def count_active(self, tenant: str) -> int:
        return self._active_count(tenant)

    async def referenced_keys(self) -> set[str]:
        now = time.monotonic()
        results = [job.result for expires, job in self._jobs.values() if expires >= now]
        results += [result for expires, result in self._cache.values() if expires >= now]
        return {image.key for result in results if result is not None for image in result.images}

    async def ping(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    @property
    def queued(self) -> int:
        return len(self._queue)

    # -- internals --------------------------------------------------------------------
    def _reserve(self, reservation: Reservation) -> bool:
        now = time.monotonic()
        expires, spent = self._budgets.get(reservation.key, (0.0, 0))
        if expires < now:
            spent = 0
        if spent + reservation.amount > reservation.limit:
            return False
        self._budgets[reservation.key] = (now + reservation.ttl, spent + reservation.amount)
        return True

    def _activate(self, job: Job) -> None:
        self._active.setdefault(job.tenant, {})[job.id] = time.monotonic() + self.job_ttl

    def _active_count(self, tenant: str) -> int:
        """Entries are added in expiry order (now + a fixed ttl), so expired ones are pruned
        from the front: amortised O(1)."""
        active = self._active.get(tenant, {})
        now = time.monotonic()
        while active:
            job_id, expires = next(iter(active.items()))
            if expires >= now:
                break
            del active[job_id]
        return len(active)

    def _leader(self, fingerprint: str) -> Job | None:
        """The active job executing `fingerprint`, if any."""
        leader_id = self._inflight.get(fingerprint)
        leader = self._get(leader_id) if leader_id else None
        return leader if leader is not None and leader.status in ACTIVE else None

    def _cached(self, fingerprint: str) -> JobResult | None:
        entry = self._cache.get(fingerprint)
        if entry is None:
            return None
        if entry[0] < time.monotonic():
            del self._cache[fingerprint]
            return None
        return entry[1]

    async def _notify(self) -> None:
        async with self._ready:
            self._ready.notify()

    def _sweep(self) -> None:
        now = time.monotonic()
        if now < self._next_sweep:
            return
        self._next_sweep = now + 60
        self._jobs = {k: v for k, v in self._jobs.items() if v[0] >= now}
        self._cache = {k: v for k, v in self._cache.items() if v[0] >= now}
