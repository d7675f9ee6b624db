"""The state Protocol: jobs, the queue, the result cache and single-flight, behind one seam.

Every method that changes more than one thing is atomic in each implementation (the memory
store runs each method without awaiting in the middle; the Redis store uses scripts), and
every write that a retried command could repeat is idempotent: `submit` creates one job per
id, and every status change is a `gateway.jobs.Change` applied compare-and-set, so a
reclaimed or paused worker can never overwrite a finished job. A worker ends, requeues or
defers a job only while it holds the job's delivery (`finish`), so a stalled one cannot end
a run another consumer took over. Stores decide no status: they apply what
`gateway/jobs.py` computes. Whatever step ends a job (finish, cancel, a
deadline) also settles its budget reservations against what it was charged, once
(`gateway/money/settle.py`), so no crash or outage between the two can lose a refund.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

from gateway.jobs import (
    Attempt,
    Cancel,
    Change,
    Hold,
    Job,
    JobError,
    JobResult,
    JobStatus,
    Resume,
)
from gateway.state.keys import Keys
from gateway.state.outbox import WebhookOutbox
from gateway.usage.base import UsageDelta, UsageStore

if TYPE_CHECKING:  # gateway.events reads the state: imported for the type alone
    from gateway.events.base import JobEvents


class StateUnavailable(Exception):
    """The state backend cannot be reached; the API answers 503 `state_unavailable`."""


class ConcurrencyLimited(Exception):
    """The tenant already has `max_active` jobs PENDING or RUNNING; nothing was stored."""


class BudgetRefused(Exception):
    """The tenant's spend budget cannot hold the job's first attempt; nothing was stored."""


class SubmitExpired(StateUnavailable):
    """The submit reached the store after its deadline (the caller has given up and told
    its client 503): the store refused it, nothing was stored."""


@dataclass(frozen=True)
class Reservation:
    """Add `amount` to the budget counter `key` only if it stays within `limit`.

    Integer micro-dollars, so Redis adds them exactly; the counter lives `ttl` seconds.
    """

    key: str
    amount: int
    limit: int
    ttl: int

    def hold(self) -> Hold:
        """The reservation as the job records it (USD)."""
        return Hold(self.key, Decimal(self.amount).scaleb(-6))


@dataclass(frozen=True)
class CachedBirth:
    """What a submit writes, in the same atomic step, if its job is born from the result
    cache: `at` is the job's ending (`jobs.born_cached(at)`), `usage` what it saved, on
    that UTC day (`gateway.usage.recorder.birth_usage` builds both)."""

    at: datetime
    usage: tuple[UsageDelta, ...]


@dataclass(frozen=True)
class QueueStats:
    """Jobs waiting for a worker (not yet handed out), and how long the oldest has waited."""

    depth: int
    oldest_age: float  # seconds; 0 when nothing waits
    # Jobs deferred until their backend has room (not counted in `depth`; a job that ends
    # while it waits, canceled or past its deadline, leaves the count in that step).
    deferred: int = 0


@dataclass(frozen=True)
class Canceled:
    """What one cancel did: the job as stored after it (None: no such job), the jobs it
    ended (to settle and announce), and the id of the execution whose worker is now to
    stop (`job.stop` set), if any."""

    job: Job | None
    ended: list[Job]
    stopping: str | None = None


@dataclass(frozen=True)
class ListQuery:
    """One page of a tenant's jobs, newest first: created in `(after_ms, before_ms)`
    (epoch ms, exclusive), strictly after the `cursor` position `(created_ms, job id)`,
    with a status in `statuses` (all when empty). At most `limit` jobs are returned and
    at most `scan` index entries are read, so a rare status cannot make one call long."""

    tenant: str
    limit: int
    statuses: frozenset[JobStatus] = frozenset()
    after_ms: int | None = None
    before_ms: int | None = None
    cursor: tuple[int, str] | None = None
    scan: int = 1000


@dataclass(frozen=True)
class Page:
    """Jobs of a listing, and where the next page starts (None: nothing further)."""

    jobs: list[Job]
    next: tuple[int, str] | None


class StateStore(Protocol):
    keys: Keys  # every key name, budget counters included
    # Whether the queue outlives the process (a shutdown may hand jobs back to it).
    durable: bool
    # A job delivered more often than this is handed out unstarted (`delivery_exhausted`).
    max_deliveries: int

    @property
    def outbox(self) -> WebhookOutbox:
        """Webhook events of ended jobs, still to deliver (gateway/state/outbox.py)."""
        ...

    @property
    def events(self) -> JobEvents:
        """Watches on its jobs. The store announces the changes of a job's run itself, in
        the step that writes them: a start and each attempt (progress), and an ending by
        `finish` (changed); whoever makes any other change publishes it."""
        ...

    @property
    def usage(self) -> UsageStore:
        """Usage records, beside the jobs (a cache hit's are written by its submit)."""
        ...

    @property
    def queued(self) -> int:
        """Jobs waiting in this process's own queue (0 for a queue outside the process)."""
        ...

    async def submit(
        self,
        job: Job,
        *,
        max_active: int | None = None,
        reservation: Reservation | None = None,
        deadline: float | None = None,
        cached: CachedBirth | None = None,
    ) -> Job:
        """Admit a new PENDING job and return it as stored.

        Unless `job.spec.no_cache`: a cached result under `job.fingerprint` makes the job
        SUCCEEDED at birth (`cached=True`); an execution already in flight for the fingerprint
        makes it a follower (`leader_id` set, finished together with the leader). Otherwise
        the job is queued (and becomes the in-flight execution for its fingerprint).
        Submitting an id that exists returns the stored job unchanged. When the job would be
        active (queued or following) and the tenant already has `max_active` active jobs,
        raises `ConcurrencyLimited` and stores nothing. A job that will run (neither cached
        nor following) takes `reservation` from the tenant's budget, or, when it does not
        fit, raises `BudgetRefused` and stores nothing; the stored job keeps `reserved` only
        when it took the reservation. `deadline` (epoch seconds, compared with the store's
        clock) makes a submit that reaches the store later raise `SubmitExpired`.

        A job born from the cache ends at `cached.at` (now, without it), and `cached.usage`
        is added to `usage` in the same atomic step: once per job (a repeated submit of
        the id adds nothing), never for a job that was not born from the cache.
        """
        ...

    async def get_job(self, job_id: str) -> Job | None: ...

    async def claim(self, worker_id: str, timeout: float) -> Job | None:
        """Wait up to `timeout` seconds for a queued job; mark it RUNNING and hand it out.

        A job already delivered `max_deliveries` times is handed out as it is (not started,
        `deliveries` counted): the caller ends it through the finish pipeline.
        """
        ...

    async def heartbeat(self, job_id: str, worker_id: str) -> bool:
        """The worker still runs the job: restart its visibility timeout. False when
        `worker_id` no longer holds its delivery (it stalled past the timeout and another
        consumer reclaimed it, or the job's execution ended): its run is to stop."""
        ...

    async def add_attempt(self, job_id: str, attempt: Attempt) -> None:
        """Record one backend call on a RUNNING job."""
        ...

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
        """Apply `jobs.ended`: the job (and its followers) SUCCEEDED with `result` or FAILED
        with `error`.

        Caches a success under the fingerprint, ends the in-flight execution, acknowledges
        the delivery. Returns the jobs it finished (none when the job was already terminal).

        A worker passes its consumer name as `worker_id`, and as `delivery` the job's
        `deliveries` when it claimed it: the ending then applies only while that worker
        still holds the job's latest delivery, and ends nothing (returns []) once the job
        was reclaimed, by another consumer or by the same process under its name (a
        reclaim counts a delivery). Only the holder of the latest delivery ends a run, so
        every billed attempt of a reclaimed job lands on it (`add_attempt` records any
        worker's call while the job is active). None: a caller that holds no delivery,
        unchecked.
        """
        ...

    async def patch(self, job_id: str, change: Change) -> None:
        """Apply a change that touches no other key (e.g. `jobs.vendor_job_started`),
        compare-and-set like every other."""
        ...

    async def requeue(
        self, job_id: str, *, worker_id: str | None = None, delivery: int | None = None
    ) -> bool:
        """Give a RUNNING job back to the queue (shutdown, or a worker that cannot finish it).

        With `worker_id` (and `delivery`), only while that worker holds the job's latest
        delivery (as `finish`): a
        stalled worker does not take a job away from the consumer that reclaimed it.
        Whether the job went back."""
        ...

    async def defer(
        self,
        job_id: str,
        delay: float,
        resume: Resume,
        *,
        worker_id: str | None = None,
        delivery: int | None = None,
    ) -> bool:
        """Apply `jobs.deferred(resume)` to a RUNNING job (its followers go back to PENDING)
        and give it back to the queue, which hands it out no sooner than `delay` seconds
        from now (by the store's clock). With `worker_id` (and `delivery`), only while that
        worker holds the job's latest delivery (as `requeue`). Whether the job was deferred."""
        ...

    async def cancel(self, job_id: str, change: Cancel) -> Canceled:
        """Apply one cancel (`jobs.cancel`) atomically, by the role of the job:

        a follower ends CANCELED alone (its leader's execution is stopped when it was the
        last job a canceled leader still ran for); a PENDING leader ends CANCELED and its
        execution passes to its oldest waiting follower (promoted and queued in its
        place), or leaves the queue; a RUNNING leader records the cancel and, when no
        follower waits, gets `stop` (and can no longer be joined). `change.forced` ends a
        RUNNING job at once with its execution. A terminal or missing job is left alone.
        """
        ...

    async def due(self, now: float, limit: int) -> list[str]:
        """Ids of up to `limit` jobs whose deadline (epoch seconds) is at or before `now`
        and that have not ended (the deadline sweep's work)."""
        ...

    async def postpone(self, job_id: str, until: float) -> None:
        """Look at the job's deadline again at `until` (epoch seconds): the grace its
        worker has to stop it."""
        ...

    async def list_jobs(self, query: ListQuery) -> Page:
        """A page of the tenant's jobs from its own index (never a keyspace scan)."""
        ...

    async def count_active(self, tenant: str) -> int:
        """How many of the tenant's jobs are PENDING or RUNNING."""
        ...

    async def referenced_keys(self) -> set[str]:
        """Storage keys of every image a live job or cache entry points to.

        `imagegate gc` deletes only objects outside this set. Expired jobs and cache
        entries do not count; a job that is storing right now is not here yet (gc covers it
        by never deleting objects younger than `storage.gc_min_age`).
        """
        ...

    async def reserve(self, reservation: Reservation, job_id: str | None = None) -> bool:
        """Take `reservation` if it fits (a retry's budget) and record it on the job (which
        must still be active); False stores nothing."""
        ...

    async def spent(self, key: str) -> int:
        """What the budget counter `key` holds now (micro-dollars)."""
        ...

    async def queue_stats(self) -> QueueStats:
        """The shared queue now, cheaply (a few O(1) reads): for `/metrics`."""
        ...

    async def ping(self) -> None:
        """Raise `StateUnavailable` when the backend cannot be reached."""
        ...

    async def aclose(self) -> None: ...
