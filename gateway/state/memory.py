"""`memory://`: the embedded default. One process, API and workers together, nothing to install.

Each method runs to completion without awaiting in the middle, which is what makes it
atomic on one event loop. Entries expire lazily (on access) and in a periodic sweep.

Memory is bounded: at most `max_finished` finished jobs are kept (and as many cached
results); past that the job that finished first is dropped, as if it had expired (a read
answers 404, a cache miss costs one generation). Active jobs are never dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import time
from collections import deque
from dataclasses import replace
from datetime import datetime

from gateway import jobs
from gateway.events.memory import MemoryJobEvents
from gateway.jobs import (
    ACTIVE,
    Attempt,
    Cancel,
    Change,
    Job,
    JobError,
    JobResult,
    Resume,
    utcnow,
)
from gateway.money.settle import settlement
from gateway.state.base import (
    BudgetRefused,
    CachedBirth,
    Canceled,
    ConcurrencyLimited,
    ListQuery,
    Page,
    QueueStats,
    Reservation,
    SubmitExpired,
)
from gateway.state.keys import Keys
from gateway.state.outbox import MemoryOutbox
from gateway.usage.memory import MemoryUsage


class MemoryState:
    durable = False  # the queue lives in this process
    max_deliveries = 5  # never reached: nothing is redelivered in one process

    def __init__(self, *, job_ttl: float, cache_ttl: float, max_finished: int = 50_000) -> None:
        self.keys = Keys()
        self.job_ttl = job_ttl
        self.cache_ttl = cache_ttl
        self.max_finished = max_finished
        self.events = MemoryJobEvents()  # told of each start, attempt and finish (StateStore)
        self._jobs: dict[str, tuple[float, Job]] = {}
        self._finished: dict[str, None] = {}  # ids of finished jobs, oldest ending first
        self._cache: dict[str, tuple[float, JobResult]] = {}  # in insertion order
        self._inflight: dict[str, str] = {}  # fingerprint -> leader job id
        self._followers: dict[str, list[str]] = {}  # leader job id -> follower ids
        # tenant -> {id of a PENDING/RUNNING job: when it expires}; finish removes entries,
        # and expired ones are pruned only once the earliest expiry has passed.
        self._active: dict[str, dict[str, float]] = {}
        self._budgets: dict[str, tuple[float, int]] = {}  # key -> (expires, micro-dollars)
        self._by_tenant: dict[str, dict[str, datetime]] = {}  # tenant -> {job id: created}
        self._deadlines: dict[str, float] = {}  # active job id -> its deadline (epoch s)
        self._queue: deque[str] = deque()
        # job id -> the worker that claimed it last and has not handed it back: the holder
        # of its delivery, the one worker whose finish, requeue or defer applies (StateStore).
        self._holders: dict[str, str] = {}
        self._deferred: list[tuple[float, str]] = []  # heap of (not-before, job id), monotonic
        self._ready = asyncio.Condition()
        self._next_sweep = time.monotonic() + 60
        self.outbox = MemoryOutbox(self._get, self._put)
        self.usage = MemoryUsage()

    # -- jobs -------------------------------------------------------------------------
    def _get(self, job_id: str) -> Job | None:
        entry = self._jobs.get(job_id)
        if entry is None:
            return None
        expires, job = entry
        if expires < time.monotonic():
            del self._jobs[job_id]
            self._finished.pop(job_id, None)
            return None
        return job

    def _put(self, job: Job) -> None:
        if job.status.terminal and job.reserved and not job.settled:
            stored = self._get(job.id)
            if stored is None or not stored.settled:
                self._settle(job)  # in the same step that ends it, once
            job = replace(job, settled=True)
        self._jobs[job.id] = (time.monotonic() + self.job_ttl, job)
        self.outbox.index(job)
        if job.status not in ACTIVE and job.id not in self._finished:
            self._finished[job.id] = None
            while len(self._finished) > self.max_finished:
                self._drop(next(iter(self._finished)))

    def _drop(self, job_id: str) -> None:
        """Forget the oldest finished job, as if it had expired."""
        del self._finished[job_id]
        entry = self._jobs.pop(job_id, None)
        if entry is not None:
            self._unindex(entry[1])
        self.outbox.due.pop(job_id, None)

    def _settle(self, job: Job) -> None:
        for key, amount in settlement(job):
            expires, spent = self._budgets.get(key, (0.0, 0))
            if expires >= time.monotonic():  # a window long gone takes nothing back
                self._budgets[key] = (expires, max(0, spent + amount))

    async def get_job(self, job_id: str) -> Job | None:
        return self._get(job_id)

    async def submit(
        self,
        job: Job,
        *,
        max_active: int | None = None,
        reservation: Reservation | None = None,
        deadline: float | None = None,
        cached: CachedBirth | None = None,
    ) -> Job:
        if deadline is not None and time.time() > deadline:
            raise SubmitExpired("the submit reached the store after its deadline")
        self._sweep()
        existing = self._get(job.id)
        if existing is not None:
            return existing
        reserved, job = job.reserved, replace(job, reserved=())  # kept only if it will run
        self._index(job)
        if not job.spec.no_cache:
            result = self._cached(job.fingerprint)
            if result is not None:
                born = jobs.born_cached(cached.at if cached else utcnow())
                job = replace(born.apply(job), result=result)
                self._put(job)
                if cached:
                    self.usage.count(cached.usage)
                return job
        if max_active is not None and self._active_count(job.tenant) >= max_active:
            self._unindex(job)
            raise ConcurrencyLimited(job.tenant)
        leader = self._leader(job.fingerprint)
        join = jobs.joins().get(leader.status) if leader is not None else None
        if leader is not None and join is not None and not job.spec.no_cache:
            joined = join.apply(job)
            job = replace(joined, leader_id=leader.id, started_at=leader.started_at)
            self._followers.setdefault(leader.id, []).append(job.id)
            self._put(job)
            self._activate(job)
            return job
        if reservation is not None:
            if not self._reserve(reservation):
                self._unindex(job)
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
        deadline = time.monotonic() + timeout
        async with self._ready:
            while not self._take_due():
                # A deferred job falling due notifies nobody: wait until then at most.
                until = min(deadline, self._deferred[0][0]) if self._deferred else deadline
                if (remaining := until - time.monotonic()) <= 0 and until == deadline:
                    return None
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(max(0.0, remaining)):
                        await self._ready.wait()
            job_id = self._queue.popleft()
        job = self._get(job_id)
        now = utcnow()
        start = jobs.started(now)
        if job is None or not start.applies_to(job):
            return None
        job = start.apply(job)
        self._put(job)
        self._holders[job_id] = worker_id
        self._apply_to_followers(job_id, jobs.follower_started(now))
        self.events.notify([job_id], progress=True)
        return job

    async def heartbeat(self, job_id: str, worker_id: str) -> bool:
        return True  # nothing is ever reclaimed in one process

    async def patch(self, job_id: str, change: Change) -> None:
        job = self._get(job_id)
        if job is not None and change.applies_to(job):
            self._put(change.apply(job))

    async def add_attempt(self, job_id: str, attempt: Attempt) -> None:
        job = self._get(job_id)
        if job is not None and job.status in ACTIVE:
            self._put(replace(job, attempts=(*job.attempts, attempt)))
            self.events.notify([job_id], progress=True)

    async def finish(
        self,
        job_id: str,
        *,
        result: JobResult | None = None,
        error: JobError | None = None,
        now: datetime | None = None,
        worker_id: str | None = None,
        delivery: int | None = None,
    ) -> list[Job]:
        job = self._get(job_id)
        now = now or utcnow()
        change = jobs.ended(now, result, error)
        if job is None or not change.applies_to(job) or not self._holds(job, worker_id, delivery):
            return []
        own = change
        if job.cancel is not None:  # canceled while it ran for others: ends CANCELED
            own = jobs.cancel_ending(now)
            job = replace(job, error=job.cancel)
        finished = [own.apply(job), *self._apply_to_followers(job_id, change)]
        self._put(finished[0])
        self._end_execution(job)
        if result is not None:
            self._cache.pop(job.fingerprint, None)  # re-inserted last: the newest entry
            self._cache[job.fingerprint] = (time.monotonic() + self.cache_ttl, result)
            while len(self._cache) > self.max_finished:
                del self._cache[next(iter(self._cache))]
        self.events.notify(ended.id for ended in finished)
        return finished

    async def requeue(
        self, job_id: str, *, worker_id: str | None = None, delivery: int | None = None
    ) -> bool:
        job = self._get(job_id)
        change = jobs.requeued()
        if job is None or not change.applies_to(job) or not self._holds(job, worker_id, delivery):
            return False
        self._put(change.apply(job))
        self._holders.pop(job_id, None)
        self._apply_to_followers(job_id, change)
        self._queue.appendleft(job_id)
        await self._notify()
        return True

    async def defer(
        self,
        job_id: str,
        delay: float,
        resume: Resume,
        *,
        worker_id: str | None = None,
        delivery: int | None = None,
    ) -> bool:
        job = self._get(job_id)
        change = jobs.deferred(resume)
        if job is None or not change.applies_to(job) or not self._holds(job, worker_id, delivery):
            return False
        self._put(change.apply(job))
        self._holders.pop(job_id, None)
        self._apply_to_followers(job_id, jobs.requeued())
        heapq.heappush(self._deferred, (time.monotonic() + delay, job_id))
        await self._notify()  # a claim waiting for the previous earliest wakes to re-aim
        return True

    async def reserve(self, reservation: Reservation, job_id: str | None = None) -> bool:
        job = self._get(job_id) if job_id is not None else None
        if job_id is not None and (job is None or job.status not in ACTIVE):
            return False
        if not self._reserve(reservation):
            return False
        if job is not None:
            self._put(replace(job, reserved=(*job.reserved, reservation.hold())))
        return True

    async def spent(self, key: str) -> int:
        expires, spent = self._budgets.get(key, (0.0, 0))
        return spent if expires >= time.monotonic() else 0

    async def cancel(self, job_id: str, change: Cancel) -> Canceled:
        job = self._get(job_id)
        if job is None:
            return Canceled(None, [])
        if job.leader_id is not None:
            return self._cancel_follower(job, change)
        if change.queued.applies_to(job):
            ended = change.queued.apply(job)
            self._put(ended)
            waiting = self._waiting(job.id, change.promoted)
            if waiting:
                self._hand_over(job, waiting, change.promoted)
            else:
                self._end_execution(job)
                if job.id in self._queue:
                    self._queue.remove(job.id)
            self._deactivate(ended)
            return Canceled(ended, [ended])
        if change.forced is not None and change.forced.applies_to(job):
            forced = [change.forced.apply(job), *self._apply_to_followers(job.id, change.follower)]
            self._put(forced[0])
            self._end_execution(job)
            return Canceled(forced[0], forced)
        if not change.running.applies_to(job):
            return Canceled(job, [])  # already ended
        if job.cancel is None:  # the first cancel's reason stays
            job = change.running.apply(job)
        if not job.stop and not self._waiting(job.id, change.follower):
            job = change.stopped.apply(job)
            self._uninflight(job)
        self._put(job)
        return Canceled(job, [], job.id if job.stop else None)

    async def due(self, now: float, limit: int) -> list[str]:
        found: list[str] = []
        for job_id, deadline in list(self._deadlines.items()):
            job = self._get(job_id)
            if job is None or job.status not in ACTIVE:
                del self._deadlines[job_id]
            elif deadline <= now and len(found) < limit:
                found.append(job_id)
        return found

    async def postpone(self, job_id: str, until: float) -> None:
        if job_id in self._deadlines:
            self._deadlines[job_id] = until

    async def list_jobs(self, query: ListQuery) -> Page:
        indexed = self._by_tenant.get(query.tenant, {})
        positions = sorted(
            ((jobs.epoch_ms(created), job_id) for job_id, created in indexed.items()),
            reverse=True,
        )
        found: list[Job] = []
        last: tuple[int, str] | None = None
        scanned = 0
        for position in positions:
            created, _ = position
            if query.cursor is not None and position >= query.cursor:
                continue
            if query.before_ms is not None and created >= query.before_ms:
                continue
            if query.after_ms is not None and created <= query.after_ms:
                return Page(found, None)
            if len(found) == query.limit or scanned == query.scan:
                return Page(found, last)
            scanned += 1
            last = position
            job = self._get(position[1])
            if job is None:
                indexed.pop(position[1], None)
            elif not query.statuses or job.status in query.statuses:
                found.append(job)
        return Page(found, None)

    async def count_active(self, tenant: str) -> int:
        return self._active_count(tenant)

    async def referenced_keys(self) -> set[str]:
        now = time.monotonic()
        jobs = [job for expires, job in self._jobs.values() if expires >= now]
        results = [job.result for job in jobs]
        results += [result for expires, result in self._cache.values() if expires >= now]
        outputs = {image.key for result in results if result is not None for image in result.images}
        return outputs | {key for job in jobs for key in job.spec.input_keys}

    async def queue_stats(self) -> QueueStats:
        oldest = self._get(self._queue[0]) if self._queue else None
        age = (utcnow() - oldest.created_at).total_seconds() if oldest is not None else 0.0
        return QueueStats(len(self._queue), max(0.0, age), len(self._deferred))

    async def ping(self) -> None:
        return None

    async def aclose(self) -> None:
        await self.events.aclose()

    @property
    def queued(self) -> int:
        return len(self._queue) + len(self._deferred)

    # -- internals --------------------------------------------------------------------
    def _apply_to_followers(self, leader_id: str, change: Change) -> list[Job]:
        """Apply `change` to each follower it applies to; the changed followers."""
        changed = []
        for follower_id in self._followers.get(leader_id, ()):
            follower = self._get(follower_id)
            if follower is not None and change.applies_to(follower):
                changed.append(change.apply(follower))
                self._put(changed[-1])
        return changed

    def _holds(self, job: Job, worker_id: str | None, delivery: int | None) -> bool:
        """Whether `worker_id` holds the job's latest delivery, its `delivery`-th (None: a
        caller holding none; an unchecked number)."""
        if worker_id is None:
            return True
        latest = delivery is None or job.deliveries == delivery
        return latest and self._holders.get(job.id) == worker_id

    def _end_execution(self, job: Job) -> None:
        """The execution led by `job` is over: no followers, no in-flight entry, no holder."""
        self._holders.pop(job.id, None)
        for follower_id in self._followers.pop(job.id, ()):
            follower = self._get(follower_id)
            if follower is not None and follower.status not in ACTIVE:
                self._deactivate(follower)
        self._deactivate(job)
        self._uninflight(job)

    def _uninflight(self, job: Job) -> None:
        """New identical jobs no longer join `job`'s execution."""
        if self._inflight.get(job.fingerprint) == job.id:
            del self._inflight[job.fingerprint]

    def _waiting(self, leader_id: str, change: Change) -> list[Job]:
        """The followers of an execution that `change` applies to (those still waiting)."""
        found = []
        for follower_id in self._followers.get(leader_id, ()):
            follower = self._get(follower_id)
            if follower is not None and change.applies_to(follower):
                found.append(follower)
        return found

    def _cancel_follower(self, job: Job, change: Cancel) -> Canceled:
        if not change.follower.applies_to(job):
            return Canceled(job, [])
        ended = change.follower.apply(job)
        self._put(ended)
        self._deactivate(ended)
        leader_id = job.leader_id
        assert leader_id is not None
        followers = self._followers.get(leader_id, [])
        if job.id in followers:
            followers.remove(job.id)
        leader = self._get(leader_id)
        stopping = None
        if (
            leader is not None
            and leader.cancel is not None
            and change.stopped.applies_to(leader)
            and not leader.stop
            and not self._waiting(leader_id, change.follower)
        ):
            leader = change.stopped.apply(leader)
            self._put(leader)
            self._uninflight(leader)
            stopping = leader.id
        return Canceled(ended, [ended], stopping)

    def _hand_over(self, job: Job, waiting: list[Job], promote: Change) -> None:
        """A canceled queued leader's execution passes to its oldest waiting follower,
        which takes its place in the queue; the others follow the new leader."""
        heir = promote.apply(waiting[0])
        self._put(heir)
        for follower in waiting[1:]:
            self._put(replace(follower, leader_id=heir.id))
        self._followers.pop(job.id, None)
        self._followers[heir.id] = [follower.id for follower in waiting[1:]]
        if self._inflight.get(job.fingerprint) == job.id:
            self._inflight[job.fingerprint] = heir.id
        if job.id in self._queue:
            self._queue[self._queue.index(job.id)] = heir.id
        else:
            self._queue.append(heir.id)

    def _deactivate(self, job: Job) -> None:
        self._active.get(job.tenant, {}).pop(job.id, None)
        self._deadlines.pop(job.id, None)
        if job.resume is not None:  # ended while deferred (a cancel): it waits no more
            waiting = [entry for entry in self._deferred if entry[1] != job.id]
            if len(waiting) < len(self._deferred):
                heapq.heapify(waiting)
                self._deferred = waiting

    def _index(self, job: Job) -> None:
        self._by_tenant.setdefault(job.tenant, {})[job.id] = job.created_at

    def _unindex(self, job: Job) -> None:
        self._by_tenant.get(job.tenant, {}).pop(job.id, None)

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
        if job.deadline is not None:
            self._deadlines[job.id] = job.deadline.timestamp()

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

    def _take_due(self) -> bool:
        """Move deferred jobs whose time has come to the queue; whether any job waits."""
        now = time.monotonic()
        while self._deferred and self._deferred[0][0] <= now:
            self._queue.append(heapq.heappop(self._deferred)[1])
        return bool(self._queue)

    async def _notify(self) -> None:
        async with self._ready:
            self._ready.notify()

    def _sweep(self) -> None:
        now = time.monotonic()
        if now < self._next_sweep:
            return
        self._next_sweep = now + 60
        self._jobs = {k: v for k, v in self._jobs.items() if v[0] >= now}
        self._finished = {k: None for k in self._finished if k in self._jobs}
        self._cache = {k: v for k, v in self._cache.items() if v[0] >= now}
        self._holders = {k: v for k, v in self._holders.items() if k in self._jobs}
