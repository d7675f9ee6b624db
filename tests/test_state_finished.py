"""Finished jobs: no state method changes a job once it ended without a webhook (every
store), and `redis://` answers such a job from the process's memory once it has seen it,
never a job that can still change, and never after Redis may have expired it
(gateway/state/redis_finished.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from benchmarks.redis_counting import RedisCounter
from gateway import jobs
from gateway.budgets import Budget, Budgets
from gateway.jobs import (
    Attempt,
    Job,
    JobStatus,
    Resume,
    VendorJob,
    WebhookState,
    client_cancel,
    utcnow,
    worker_lost,
)
from gateway.state.redis import RedisState
from gateway.state.redis_finished import FinishedJobs
from gateway.webhooks.schedule import redelivery
from tests.test_state_contract import (
    ERROR,
    NOTHING,
    RESULT,
    MakeState,
    make_job,
    make_state,
    state,
)

__all__ = ["make_state", "state"]  # the contract suite's fixtures, over memory and Redis
HOOK = "https://hooks.example/in"


async def ended_jobs(state: Any) -> list[Job]:
    """One job for each way a job ends: succeeded (and its follower), failed, canceled
    while queued, born from the cache, ended worker_lost."""
    leader = await state.submit(make_job("succeeds"))
    follower = await state.submit(make_job("succeeds", tenant="other"))
    await state.claim("w1", 1)
    done = await state.finish(leader.id, result=RESULT)
    assert [job.id for job in done] == [leader.id, follower.id]
    failed = await state.submit(make_job("fails"))
    await state.claim("w1", 1)
    await state.finish(failed.id, error=ERROR)
    queued = await state.submit(make_job("canceled"))
    await state.cancel(queued.id, jobs.cancel(utcnow(), client_cancel()))
    cached = await state.submit(make_job("succeeds"))
    assert cached.cached
    lost = await state.submit(make_job("lost"))
    await state.claim("w1", 1)
    await state.finish(lost.id, error=worker_lost(5))
    ids = [leader.id, follower.id, failed.id, queued.id, cached.id, lost.id]
    found = [await state.get_job(job_id) for job_id in ids]
    assert all(job is not None and job.status.terminal for job in found)
    return found


async def try_everything(state: Any, job: Job) -> None:
    """Every state method that writes, aimed at an ended job."""
    budgets = Budgets(state)
    reservation = budgets.reservation(job.tenant, Budget(Decimal("1.00"), 86400), Decimal("0.25"))
    now = utcnow()
    assert await state.finish(job.id, result=RESULT) == []
    assert await state.finish(job.id, error=ERROR) == []
    for force in (False, True):
        outcome = await state.cancel(job.id, jobs.cancel(now, client_cancel(), force=force))
        assert outcome.ended == [] and outcome.stopping is None
    await state.requeue(job.id)
    await state.defer(job.id, 0.01, Resume(target=1, tries=1))
    await state.patch(job.id, jobs.vendor_job_started(VendorJob("replicate", "p-1")))
    await state.patch(job.id, jobs.started(now))
    await state.add_attempt(job.id, Attempt("procedural", "v1", "ok", Decimal("0.5"), 3))
    assert await state.reserve(reservation, job.id) is False
    await state.heartbeat(job.id, "w1")
    await state.postpone(job.id, 0)
    assert await state.submit(job) == job  # a repeated submit of the id
    assert await state.outbox.claim(10, 30) == []
    assert await state.outbox.record(job.id, 0, WebhookState(url=HOOK), 0.0) is None
    await state.due(0, 10)
    assert await state.claim("w2", NOTHING) is None


# -- every store ---------------------------------------------------------------------------
async def test_no_state_method_changes_a_job_that_ended_without_a_webhook(
    make_state: MakeState,
) -> None:
    """What lets `redis://` keep finished jobs in each process: once ended (every way a
    job ends), nothing any process can call rewrites the job. On Redis a second process
    does the calls and the stored bytes are compared."""
    state = make_state()
    before = await ended_jobs(state)
    other = make_state() if isinstance(state, RedisState) else state
    raw = [await stored_bytes(state, job) for job in before]
    for job in before:
        await try_everything(other, job)
    assert [await stored_bytes(state, job) for job in before] == raw
    fresh = make_state() if isinstance(state, RedisState) else state  # nothing kept yet
    assert [await fresh.get_job(job.id) for job in before] == before
    assert [await state.get_job(job.id) for job in before] == before


async def stored_bytes(state: Any, job: Job) -> bytes | None:
    if not isinstance(state, RedisState):
        return None
    doc: bytes | None = await state.client.get(state.job_key(job.id))
    return doc


# -- redis:// and redis+cluster:// ----------------------------------------------------------
@pytest.fixture
async def shared(shared_url: str) -> AsyncIterator[Callable[..., RedisState]]:
    """`shared(**options)`: RedisStates on one clean Redis (then Cluster), each standing
    for a process of its own."""
    made: list[RedisState] = []

    def factory(**options: Any) -> RedisState:
        settings = {"job_ttl": 60, "cache_ttl": 60, "visibility_timeout": 30, **options}
        made.append(RedisState.from_url(shared_url, **settings))
        return made[-1]

    yield factory
    for each in made:
        await each.aclose()


@pytest.fixture
def counter() -> Iterator[RedisCounter]:
    with RedisCounter() as counting:
        yield counting


async def trips(counter: RedisCounter, call: Awaitable[Any]) -> tuple[int, Any]:
    """(round trips `call` sent to Redis, its value). A fresh client's first call also
    sends its connection's handshake (and a cluster's discovery): make one before."""
    counter.reset()
    value = await call
    return counter.round_trips["api"], value


async def test_a_finished_job_is_read_from_redis_once_per_process(
    shared: Callable[..., RedisState], counter: RedisCounter
) -> None:
    worker, poller = shared(), shared()
    await poller.get_job("job_warm")  # connected to the slot's node: commands alone count
    job = make_job()
    await worker.submit(job)
    await worker.claim("w1", 1)
    [done] = await worker.finish(job.id, result=RESULT)
    assert await trips(counter, worker.get_job(job.id)) == (0, done)  # the finish's own doc
    assert await trips(counter, poller.get_job(job.id)) == (1, done)
    for _ in range(3):
        assert await trips(counter, poller.get_job(job.id)) == (0, done)
    # A job born from the cache is kept by the submit that made it.
    born = await poller.submit(make_job())
    assert born.cached and await trips(counter, poller.get_job(born.id)) == (0, born)
    assert await trips(counter, poller.get_job("job_missing")) == (1, None)
    assert await trips(counter, poller.get_job("job_missing")) == (1, None)


async def test_a_job_that_can_still_change_is_read_from_redis_every_time(
    shared: Callable[..., RedisState], counter: RedisCounter
) -> None:
    """Active jobs, in any process, and ended jobs with a webhook: their delivery state
    changes after the ending (and a delivered one can be redelivered on request)."""
    worker, poller = shared(), shared()
    await poller.get_job("job_warm")
    job = await worker.submit(replace(make_job(), webhook=WebhookState(url=HOOK)))
    assert await trips(counter, poller.get_job(job.id)) == (1, job)
    assert await trips(counter, poller.get_job(job.id)) == (1, job)
    running = await worker.claim("w1", 1)
    assert await trips(counter, poller.get_job(job.id)) == (1, running)
    await worker.cancel(job.id, jobs.cancel(utcnow(), client_cancel()))
    asked = await poller.get_job(job.id)
    assert asked.status is JobStatus.RUNNING and asked.stop and asked.cancel is not None
    [ended] = await worker.finish(job.id, result=RESULT)
    assert ended.status is JobStatus.CANCELED and ended.webhook.status == "pending"
    assert await trips(counter, poller.get_job(job.id)) == (1, ended)

    [claimed] = await worker.outbox.claim(10, 30)
    assert (await poller.get_job(job.id)).webhook.attempts == 1
    delivered = replace(claimed.webhook, status="delivered", last_status=200)
    assert await worker.outbox.record(job.id, 1, delivered, None) is not None
    seen = await poller.get_job(job.id)
    assert seen.webhook.status == "delivered" and seen.webhook.next_attempt_ms is None
    assert await trips(counter, poller.get_job(job.id)) == (1, seen)
    await worker.outbox.record(job.id, 1, redelivery(seen.webhook), 0.0)
    again = await poller.get_job(job.id)
    assert again.webhook.status == "pending" and again.webhook.next_attempt_ms is not None
    assert len(poller.finished) == 0


async def test_an_entry_stops_answering_before_redis_may_expire_the_job(
    shared: Callable[..., RedisState],
) -> None:
    """With a tiny job_ttl: each entry ends before the document's expiry (PTTL), whether
    the process wrote the ending or read it; once Redis expired the job, it is gone for
    every process."""
    worker, poller = shared(job_ttl=2.0), shared(job_ttl=2.0)
    for each in (worker, poller):
        each.finished = FinishedJobs(each.job_ttl, margin=0.25)
    job = make_job()
    await worker.submit(job)
    await worker.claim("w1", 1)
    await worker.finish(job.id, result=RESULT)
    await asyncio.sleep(0.3)  # read later: its entry is counted from the ending, not the read
    await poller.get_job(job.id)
    key = worker.job_key(job.id)
    for each in (worker, poller):
        until = each.finished.until(job.id)
        assert until is not None  # kept
        left_in_redis = await each.client.pttl(key) / 1000
        assert until - time.monotonic() <= left_in_redis

    async with asyncio.timeout(10):
        while await worker.client.exists(key):
            await asyncio.sleep(0.05)
    assert await worker.get_job(job.id) is None
    assert await poller.get_job(job.id) is None


async def test_a_job_whose_ending_is_older_than_job_ttl_allows_is_not_kept(
    shared: Callable[..., RedisState],
) -> None:
    """The expiry is counted from the ending: a document whose `finished_at` says it may
    already have expired (another process's clock, a long pause) is never kept."""
    state = shared(job_ttl=60)
    job = make_job()
    await state.submit(job)
    await state.claim("w1", 1)
    [done] = await state.finish(job.id, result=RESULT)
    assert state.finished.until(job.id) is not None
    kept = FinishedJobs(60)
    kept.keep(replace(done, finished_at=utcnow() - timedelta(seconds=59)))
    assert kept.until(job.id) is None  # 60 s ttl - 59 s - the 30 s margin: nothing left
    kept.keep(done)
    assert kept.get(job.id) == done


def test_the_cache_is_bounded_least_recently_used_first() -> None:
    kept = FinishedJobs(3600, size=3)
    ended = [
        replace(make_job(f"p{i}"), status=JobStatus.SUCCEEDED, finished_at=utcnow())
        for i in range(4)
    ]
    for job in ended[:3]:
        kept.keep(job)
    assert kept.get(ended[0].id) == ended[0]  # now the most recently used
    kept.keep(ended[3])
    assert len(kept) == 3 and kept.get(ended[1].id) is None
    assert [kept.get(job.id) for job in (ended[0], ended[2], ended[3])] == [
        ended[0],
        ended[2],
        ended[3],
    ]
    kept.keep(replace(ended[0], id="job_running", status=JobStatus.RUNNING, finished_at=None))
    kept.keep(replace(ended[0], id="job_hooked", webhook=WebhookState(url=HOOK)))
    assert kept.get("job_running") is None and kept.get("job_hooked") is None
