"""A hypothesis state machine over the state contract, on `memory://` and a real Redis.

Rules: submit (identical prompts join, some bypass the cache, some carry a deadline
already past), claim by one of two workers (with a tiny visibility timeout on Redis, so a
claim also reclaims what the other worker holds: a dead or stalled worker's delivery),
attempt (reserve, then record a charged or free call; any worker that believes it holds the
job, as a stalled one still calls its vendor), requeue, defer (due at once, or long after
the run), cancel, finish, a worker honouring `stop`, and the deadline sweep. Every ending
goes through the real finish pipeline (the store's step, which settles the money, then
`Endings`' hooks), as in the gateway, and every worker passes its name.

After each finish, requeue and defer: it applied exactly when its worker held the job's
delivery (it claimed the job last, and the job has not been handed back or ended since)
and the job was in a status it applies to.

Invariants after every step:
- at most one terminal write per job, and a terminal job never changes again;
- followers end with their leader unless canceled: a waiting follower's leader is active,
  and a follower that ended other than CANCELED ended in its leader's write, with its
  outcome (the leader's own, unless the leader was canceled while it ran for them);
- money: each tenant's budget counter holds exactly what its jobs reserved while active
  and what they were charged once ended (refunded = reserved - charged);
- nothing in the queue (deferred jobs included) for a terminal job, and every waiting
  execution is in it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from gateway.budgets import Budgets
from gateway.cancels import Cancels
from gateway.deadlines import DeadlineSweep
from gateway.endings import Endings
from gateway.events.memory import MemoryJobEvents
from gateway.jobs import (
    ACTIVE,
    Attempt,
    Job,
    JobError,
    JobStatus,
    Resume,
    client_cancel,
    delivery_exhausted,
    utcnow,
    worker_lost,
)
from gateway.money.format import to_micros
from gateway.state.base import Reservation, StateStore
from gateway.state.memory import MemoryState
from gateway.state.redis import RedisState
from gateway.state.redis_client import close, connect
from tests.test_state_contract import RESULT, make_job

WORKERS = ("w1", "w2")
RUNNING = frozenset({JobStatus.RUNNING})  # what a requeue or a defer applies to
HOLD = 40_000  # micro-dollars reserved for each attempt (and at admission)
LIMIT = 10**12
TENANTS = ("alpha", "beta")
PROMPTS = ("a red kite", "a blue heron", "a green frog")
ERROR = JobError("backend_unavailable", "the vendor said no")
RUNS = settings(
    max_examples=12,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


class StateMachine(RuleBasedStateMachine):
    redis_url: str | None = None  # set per store by the tests below

    jobs = Bundle("jobs")

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.state: StateStore = self.run(self._open())
        self.budgets = Budgets(self.state)
        self.endings = Endings(self.state, [self._ended])
        self.cancels = Cancels(self.state, self.endings, MemoryJobEvents())
        self.sweeper = DeadlineSweep(self.state, self.cancels, grace=0)
        self.known: set[str] = set()
        self.held: set[tuple[str, str]] = set()  # (job id, worker) it believes it holds
        self.holder: dict[str, str] = {}  # job id -> the worker holding its delivery
        self.writes: dict[str, int] = {}  # terminal writes seen per job
        self.final: dict[str, Job] = {}  # each job as it first ended

    # -- plumbing --------------------------------------------------------------------
    def run(self, call: Any) -> Any:
        return self.loop.run_until_complete(call)

    async def _open(self) -> StateStore:
        if self.redis_url is None:
            return MemoryState(job_ttl=600, cache_ttl=600)
        raw = connect(self.redis_url)  # one Redis or a cluster (FLUSHDB on every primary)
        await raw.flushdb()
        await close(raw)
        # A visibility timeout of 1 ms: every claim also takes over deliveries that others
        # hold, as after a worker's death.
        return RedisState.from_url(
            self.redis_url, job_ttl=600, cache_ttl=600, visibility_timeout=0.001
        )

    def teardown(self) -> None:
        self.run(self.state.aclose())
        self.loop.close()

    async def _ended(self, ended: list[Job]) -> None:
        for job in ended:
            self.writes[job.id] = self.writes.get(job.id, 0) + 1
            self.final.setdefault(job.id, job)

    def key(self, tenant: str) -> str:
        return self.state.keys.budget(tenant, 86400, 1)

    # -- rules -----------------------------------------------------------------------
    @initialize()
    def start(self) -> None:
        assert not self.known

    @rule(
        target=jobs,
        prompt=st.sampled_from(PROMPTS),
        tenant=st.sampled_from(TENANTS),
        no_cache=st.booleans(),
        late=st.booleans(),
    )
    def submit(self, prompt: str, tenant: str, no_cache: bool, late: bool) -> str:
        job = make_job(prompt, tenant=tenant, no_cache=no_cache)
        hold = Reservation(self.key(tenant), HOLD, LIMIT, 3 * 86400)
        job = replace(job, reserved=(hold.hold(),))
        if late:
            job = replace(job, deadline=utcnow() - timedelta(seconds=1))
        stored = self.run(self.state.submit(job, reservation=hold))
        self.known.add(stored.id)
        if stored.status.terminal:  # born from the cache: its one terminal write
            self.writes[stored.id] = 1
            self.final[stored.id] = stored
        return stored.id

    def ending(self, job_id: str, worker: str, *, expected: frozenset[JobStatus]) -> bool:
        """Whether an ending, requeue or defer by `worker` must apply now: it holds the
        job's delivery, and the job is in a status the change expects."""
        job = self.run(self.state.get_job(job_id))
        return job is not None and self.holder.get(job_id) == worker and job.status in expected

    def applied(self, job_id: str, worker: str, expected: bool, applied: bool) -> None:
        """Check the store's answer; the worker lets the job go, and one that applied
        leaves the job with no holder (ended, or back in the queue)."""
        assert applied == expected, (job_id, worker, self.holder.get(job_id), applied)
        self.held.discard((job_id, worker))
        if applied:
            del self.holder[job_id]

    def finish_as(self, job_id: str, worker: str, outcome: Any) -> None:
        expected = self.ending(job_id, worker, expected=ACTIVE)
        ended = self.run(self.endings.finish(job_id, outcome, worker_id=worker))
        self.applied(job_id, worker, expected, bool(ended))

    @rule(worker=st.sampled_from(WORKERS))
    def claim(self, worker: str) -> None:
        job = self.run(self.state.claim(worker, 0.001))
        if job is None:
            return
        self.holder[job.id] = worker  # a reclaim moves the delivery to this worker
        if delivery_exhausted(job, self.state.max_deliveries):
            self.finish_as(job.id, worker, worker_lost(self.state.max_deliveries))
            return
        self.held.add((job.id, worker))

    @precondition(lambda self: bool(self.held))
    @rule(data=st.data(), charged=st.booleans())
    def attempt(self, data: st.DataObject, charged: bool) -> None:
        job_id, _ = data.draw(st.sampled_from(sorted(self.held)))
        job = self.run(self.state.get_job(job_id))
        hold = Reservation(self.key(job.tenant), HOLD, LIMIT, 3 * 86400)
        if not self.run(self.state.reserve(hold, job_id)):
            return  # no longer active: nothing reserved, no call made
        cost = Decimal(HOLD).scaleb(-6) if charged else Decimal("0")
        attempt = Attempt("mock", "m", "ok" if charged else "vendor_unavailable", cost, 5)
        self.run(self.state.add_attempt(job_id, attempt))

    @precondition(lambda self: bool(self.held))
    @rule(data=st.data())
    def requeue(self, data: st.DataObject) -> None:
        job_id, worker = data.draw(st.sampled_from(sorted(self.held)))
        expected = self.ending(job_id, worker, expected=RUNNING)
        applied = self.run(self.state.requeue(job_id, worker_id=worker))
        self.applied(job_id, worker, expected, applied)

    @precondition(lambda self: bool(self.held))
    @rule(data=st.data(), due=st.booleans())
    def defer(self, data: st.DataObject, due: bool) -> None:
        """Its backend is full: back to the queue, due at once or long after the run."""
        job_id, worker = data.draw(st.sampled_from(sorted(self.held)))
        expected = self.ending(job_id, worker, expected=RUNNING)
        delay = 0.0 if due else 3600.0
        applied = self.run(self.state.defer(job_id, delay, Resume(0, 0), worker_id=worker))
        self.applied(job_id, worker, expected, applied)

    @precondition(lambda self: bool(self.held))
    @rule(data=st.data(), succeeded=st.booleans())
    def finish(self, data: st.DataObject, succeeded: bool) -> None:
        job_id, worker = data.draw(st.sampled_from(sorted(self.held)))
        self.finish_as(job_id, worker, RESULT if succeeded else ERROR)

    @precondition(lambda self: bool(self.held))
    @rule(data=st.data())
    def honour_stop(self, data: st.DataObject) -> None:
        """A worker that heard its job is to stop ends it (the store names the reason)."""
        job_id, worker = data.draw(st.sampled_from(sorted(self.held)))
        job = self.run(self.state.get_job(job_id))
        if job is not None and job.stop:
            self.finish_as(job_id, worker, client_cancel())

    @rule(job_id=jobs)
    def cancel(self, job_id: str) -> None:
        self.run(self.cancels.cancel(job_id, client_cancel()))

    @rule()
    def sweep_deadlines(self) -> None:
        # With no grace, a second sweep ends a RUNNING job told to stop once already.
        self.run(self.sweeper.sweep(time.time() + 1))

    # -- invariants ------------------------------------------------------------------
    def stored(self) -> dict[str, Job]:
        found = {}
        for job_id in self.known:
            job = self.run(self.state.get_job(job_id))
            assert job is not None, f"{job_id} was lost"
            found[job_id] = job
        return found

    @invariant()
    def invariants_hold(self) -> None:
        if not self.known:
            return
        jobs = self.stored()
        self.one_terminal_write(jobs)
        self.followers_end_with_their_leader(jobs)
        self.money_adds_up(jobs)
        self.the_queue_is_exact(jobs)

    def one_terminal_write(self, jobs: dict[str, Job]) -> None:
        assert all(count == 1 for count in self.writes.values()), self.writes
        for job_id, job in jobs.items():
            if job.status.terminal:
                assert job_id in self.final, f"{job_id} ended outside the finish pipeline"
                first = self.final[job_id]
                assert (job.status, job.finished_at) == (first.status, first.finished_at)
            else:
                assert job_id not in self.final

    def followers_end_with_their_leader(self, jobs: dict[str, Job]) -> None:
        for job in jobs.values():
            if job.leader_id is None:
                continue
            leader = jobs[job.leader_id]
            if job.status in ACTIVE:
                assert leader.status in ACTIVE, f"{job.id} waits on an ended execution"
            elif job.status is not JobStatus.CANCELED:
                assert leader.status.terminal and leader.finished_at == job.finished_at
                if leader.status is not JobStatus.CANCELED:
                    assert (job.status, job.result, job.error) == (
                        leader.status,
                        leader.result,
                        leader.error,
                    )
                else:  # canceled while it ran for them: still their execution's outcome
                    assert leader.cancel is not None

    def money_adds_up(self, jobs: dict[str, Job]) -> None:
        for tenant in TENANTS:
            expected = sum(
                to_micros(job.reserved_total if job.status in ACTIVE else job.cost)
                for job in jobs.values()
                if job.tenant == tenant
            )
            assert self.run(self.state.spent(self.key(tenant))) == expected, tenant
        for job in jobs.values():
            assert job.cost <= job.reserved_total

    def the_queue_is_exact(self, jobs: dict[str, Job]) -> None:
        queued = self.run(self.queued_ids())
        for job_id in queued:
            assert job_id not in jobs or jobs[job_id].status in ACTIVE, f"{job_id} queued"
        for job in jobs.values():
            if job.status is JobStatus.PENDING and job.leader_id is None:
                assert job.id in queued, f"{job.id} waits but is not queued"

    async def queued_ids(self) -> set[str]:
        """Every job id in the queue, deferred ones included: memory's deque and heap;
        Redis's stream (pending or not) and deferred set."""
        state = self.state
        if isinstance(state, MemoryState):
            return set(state._queue) | {job_id for _, job_id in state._deferred}
        assert isinstance(state, RedisState)
        entries = await state.client.xrange(state.stream)
        deferred = await state.client.zrange(state.keys.deferred, 0, -1)
        return {fields[b"job"].decode() for _, fields in entries} | {
            job_id.decode() for job_id in deferred
        }


def test_the_state_contract_holds_on_memory() -> None:
    machine = type("MemoryMachine", (StateMachine,), {"redis_url": None})
    run_state_machine_as_test(machine, settings=RUNS)


def test_the_state_contract_holds_on_redis(redis_url: str) -> None:
    machine = type("RedisMachine", (StateMachine,), {"redis_url": redis_url})
    run_state_machine_as_test(machine, settings=RUNS)


def test_the_state_contract_holds_on_a_redis_cluster(cluster_url: str) -> None:
    machine = type("ClusterMachine", (StateMachine,), {"redis_url": cluster_url})
    run_state_machine_as_test(machine, settings=RUNS)
