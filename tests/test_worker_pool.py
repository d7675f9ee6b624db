"""The pool's one claim loop: one claim in flight however many workers are idle, never more
claims and running jobs than workers, nothing claimed while every worker is busy (the jobs
stay in the queue for other processes), one consumer on a Redis queue, a worker that hits
a bug goes on with the next job, a claim that fails unexpectedly backs off without
ending the loop, and a running job is heartbeaten until it ends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from gateway.jobs import Job, JobStatus
from gateway.state.base import StateStore
from gateway.state.memory import MemoryState
from gateway.state.redis import GROUP, RedisState
from gateway.worker import WorkerPool
from tests.test_state_contract import RESULT, make_job

WORKERS = 3
HEARTBEAT_EVERY = 0.03


class Counting:
    """A state store that counts the claims in flight (and the most at once), and the
    most claims and running jobs of `pool` at once."""

    def __init__(self, inner: StateStore) -> None:
        self.inner = inner
        self.pool: WorkerPool | None = None
        self.claiming = 0
        self.most = 0
        self.most_held = 0  # claims in flight plus running jobs: never above the workers

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def claim(self, worker_id: str, timeout: float) -> Job | None:
        self.claiming += 1
        self.most = max(self.most, self.claiming)
        if self.pool is not None:
            self.most_held = max(self.most_held, self.claiming + self.pool.busy)
        try:
            return await self.inner.claim(worker_id, timeout)
        finally:
            self.claiming -= 1


class GatedPool(WorkerPool):
    """Each job runs until the test opens its gate, then succeeds (or raises `fails`)."""

    def __init__(self, state: Any, fails: set[str] | None = None) -> None:
        unused: Any = None  # process() is replaced: no runner, no endings
        super().__init__(state, unused, unused, concurrency=WORKERS, grace=5.0)
        state.pool = self
        self.gates: dict[str, asyncio.Event] = {}
        self.started: list[str] = []
        self.fails = fails or set()

    async def process(self, job: Job) -> list[Job]:
        self.started.append(job.id)
        await self.gates.setdefault(job.id, asyncio.Event()).wait()
        if job.id in self.fails:
            raise RuntimeError("a bug in the worker")
        finished: list[Job] = await self.state.finish(job.id, result=RESULT)
        return finished


@pytest.fixture
async def state(store_url: str) -> AsyncIterator[Counting]:
    ttls: dict[str, Any] = {"job_ttl": 60, "cache_ttl": 60}
    store: StateStore = (
        MemoryState(**ttls)
        if store_url == "memory://"
        else RedisState.from_url(store_url, visibility_timeout=30, **ttls)
    )
    yield Counting(store)
    await store.aclose()


async def until(condition: Callable[[], bool | Awaitable[bool]], timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while True:
            outcome = condition()
            if not isinstance(outcome, bool):
                outcome = await outcome
            if outcome:
                return
            await asyncio.sleep(0.01)


async def depth(state: Counting) -> int:
    return (await state.queue_stats()).depth


async def test_idle_workers_share_one_claim_and_busy_ones_claim_nothing(
    state: Counting,
) -> None:
    pool = GatedPool(state)
    await pool.start()
    try:
        await until(lambda: state.claiming > 0)  # idle: one claim waits for all three
        assert state.most == 1 and pool.alive == WORKERS and pool.busy == 0

        jobs = [await state.submit(make_job(f"gated {i}")) for i in range(5)]
        await until(lambda: len(pool.started) == WORKERS)
        # Every worker busy: no claim in flight, the other two jobs still queued.
        assert state.claiming == 0 and pool.busy == WORKERS
        assert await depth(state) == 2
        assert set(pool.started) == {job.id for job in jobs[:WORKERS]}  # the queue's first

        pool.gates[jobs[0].id].set()  # one worker is free: it takes one job, no more
        await until(lambda: len(pool.started) == WORKERS + 1)
        assert await depth(state) == 1 and pool.busy == WORKERS

        for job in jobs:
            pool.gates.setdefault(job.id, asyncio.Event()).set()
        await until(lambda: len(pool.started) == len(jobs) and pool.busy == 0)
        for job in jobs:
            stored = await state.get_job(job.id)
            assert stored is not None and stored.status is JobStatus.SUCCEEDED
        assert state.most_held <= WORKERS and await depth(state) == 0
        if isinstance(state.inner, RedisState):  # one consumer for the pool, not one each
            consumers = await state.inner.blocking.xinfo_consumers(state.inner.stream, GROUP)
            assert [c["name"] for c in consumers] == [pool.name.encode()]
    finally:
        await pool.stop()
    assert pool.alive == 0


async def test_a_worker_that_hits_a_bug_goes_on_with_the_next_job(state: Counting) -> None:
    broken = make_job("breaks its worker")
    pool = GatedPool(state, fails={broken.id})
    await state.submit(broken)
    pool.gates[broken.id] = asyncio.Event()
    pool.gates[broken.id].set()
    await pool.start()
    try:
        await until(lambda: pool.started == [broken.id] and pool.busy == 0)
        assert pool.alive == WORKERS
        jobs = [await state.submit(make_job(f"after the bug {i}")) for i in range(WORKERS)]
        await until(lambda: len(pool.started) == 1 + WORKERS)  # all three slots still there
        assert pool.busy == WORKERS
        for job in jobs:
            pool.gates[job.id].set()
        await until(lambda: pool.busy == 0)
    finally:
        await pool.stop()


class Faulty(Counting):
    """Its first claims fail as nothing a state store should raise."""

    def __init__(self, inner: StateStore, failures: int) -> None:
        super().__init__(inner)
        self.failures = failures

    async def claim(self, worker_id: str, timeout: float) -> Job | None:
        if self.failures:
            self.failures -= 1
            raise RuntimeError("OOM command not allowed when used memory > 'maxmemory'")
        return await super().claim(worker_id, timeout)


async def test_an_unexpected_claim_error_backs_off_and_claiming_goes_on(
    state: Counting, caplog: pytest.LogCaptureFixture
) -> None:
    faulty = Faulty(state.inner, failures=2)
    pool = GatedPool(faulty)
    job = await faulty.submit(make_job("claimed after two failed claims"))
    pool.gates[job.id] = asyncio.Event()
    pool.gates[job.id].set()
    await pool.start()
    try:
        await until(lambda: pool.started == [job.id] and pool.busy == 0)
        assert (await faulty.get_job(job.id)).status is JobStatus.SUCCEEDED
        assert pool.alive == WORKERS  # the one claim loop lives on
    finally:
        await pool.stop()
    assert caplog.text.count("claim failed unexpectedly") == 2


class HeartbeatCounting(Counting):
    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.beats: list[str] = []

    async def heartbeat(self, job_id: str, worker_id: str) -> bool:
        self.beats.append(job_id)
        held: bool = await self.inner.heartbeat(job_id, worker_id)
        return held


async def test_a_pool_heartbeats_the_job_it_runs_until_it_ends(state: Counting) -> None:
    counting = HeartbeatCounting(state.inner)
    pool = GatedPool(counting)
    pool.heartbeat_every = HEARTBEAT_EVERY
    job = await counting.submit(make_job("runs for a few heartbeats"))
    await pool.start()
    try:
        await until(lambda: len(counting.beats) >= 3)
        assert set(counting.beats) == {job.id}
        pool.gates[job.id].set()
        await until(lambda: pool.busy == 0)
        ended = len(counting.beats)
        await asyncio.sleep(HEARTBEAT_EVERY * 4)
        assert len(counting.beats) == ended
        assert (await counting.get_job(job.id)).status is JobStatus.SUCCEEDED
    finally:
        await pool.stop()
