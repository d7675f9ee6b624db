"""`StateStore.defer` on both stores: a deferred job waits out its not-before time in the queue,
comes back with its route position, and its claim is not counted as a delivery."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from gateway import jobs
from gateway.jobs import JobError, JobStatus, Resume, client_cancel, deadline_exceeded, utcnow
from gateway.state.base import StateStore
from gateway.state.memory import MemoryState
from gateway.state.redis import RedisState
from tests.conftest import SHARED
from tests.test_state_contract import RESULT, make_job

LONG = 60.0  # a not-before far beyond any claim in these tests
SHORT = 0.3


@pytest.fixture(params=["memory", "redis", "redis+cluster"])
async def state(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    store: StateStore
    if request.param == "memory":
        store = MemoryState(job_ttl=60, cache_ttl=60)
    else:
        url = request.getfixturevalue(SHARED[request.param])
        store = RedisState.from_url(url, job_ttl=60, cache_ttl=60, visibility_timeout=30)
    yield store
    await store.aclose()


async def claimed(state: Any, prompt: str = "a deferred lighthouse") -> Any:
    job = make_job(prompt)
    await state.submit(job)
    running = await state.claim("w1", 5)
    assert running is not None and running.id == job.id and running.deliveries == 1
    return running


async def test_a_deferred_job_is_not_handed_out_before_its_time(state: Any) -> None:
    job = await claimed(state)
    await state.defer(job.id, LONG, Resume(target=1, tries=2))
    stored = await state.get_job(job.id)
    assert stored.status is JobStatus.PENDING
    assert stored.deliveries == 0  # waiting is not a lost worker
    assert stored.resume == Resume(target=1, tries=2)
    assert stored.attempts == job.attempts
    stats = await state.queue_stats()
    assert (stats.depth, stats.deferred) == (0, 1)  # waiting for its backend, not a worker
    assert await state.claim("w2", 0.5) is None
    other = make_job("submitted after the deferral")
    await state.submit(other)
    taken = await state.claim("w2", 5)
    assert taken is not None and taken.id == other.id  # later work is not held up


async def test_a_deferred_job_comes_back_once_due(state: Any) -> None:
    job = await claimed(state)
    await state.defer(job.id, SHORT, Resume(target=0, tries=1))
    back = await state.claim("w2", 10)  # waits across the not-before time
    assert back is not None and back.id == job.id
    assert back.status is JobStatus.RUNNING and back.deliveries == 1
    assert back.resume == Resume(target=0, tries=1)
    assert (await state.queue_stats()).deferred == 0
    assert await state.claim("w3", 0.5) is None  # handed out once
    finished = await state.finish(job.id, result=RESULT)
    assert [j.status for j in finished] == [JobStatus.SUCCEEDED]


async def test_followers_wait_with_their_leader(state: Any) -> None:
    leader = await claimed(state, "one execution, two jobs")
    follower = await state.submit(make_job("one execution, two jobs"))
    assert follower.leader_id == leader.id and follower.status is JobStatus.RUNNING
    await state.defer(leader.id, SHORT, Resume(target=0, tries=0))
    assert (await state.get_job(follower.id)).status is JobStatus.PENDING
    back = await state.claim("w2", 10)
    assert back is not None and back.id == leader.id
    assert (await state.get_job(follower.id)).status is JobStatus.RUNNING
    finished = await state.finish(leader.id, result=RESULT)
    assert {j.id for j in finished} == {leader.id, follower.id}


async def test_a_deferred_job_that_ended_meanwhile_is_not_handed_out(state: Any) -> None:
    job = await claimed(state)
    await state.defer(job.id, SHORT, Resume(target=0, tries=0))
    ended = await state.finish(job.id, error=JobError("timeout", "its deadline passed"))
    assert [j.status for j in ended] == [JobStatus.FAILED]
    assert await state.claim("w2", 1.0) is None
    assert (await state.get_job(job.id)).status is JobStatus.FAILED


async def test_only_a_running_job_is_deferred(state: Any) -> None:
    job = await claimed(state)
    await state.finish(job.id, result=RESULT)
    await state.defer(job.id, SHORT, Resume(target=0, tries=0))
    assert (await state.get_job(job.id)).status is JobStatus.SUCCEEDED
    assert await state.claim("w2", 1.0) is None


async def test_many_deferred_jobs_all_come_back(state: Any) -> None:
    jobs = [await claimed(state, f"deferred {i}") for i in range(20)]
    for job in jobs:
        await state.defer(job.id, SHORT, Resume(target=0, tries=0))
    ids = set()
    for _ in jobs:  # more than one TAKE moves at once
        taken = await state.claim("w2", 10)
        assert taken is not None
        ids.add(taken.id)
    assert ids == {job.id for job in jobs}
    assert await state.claim("w2", 0.5) is None


async def test_a_job_canceled_while_deferred_leaves_the_deferred_set(state: Any) -> None:
    job = await claimed(state)
    await state.defer(job.id, SHORT, Resume(target=0, tries=0))
    assert (await state.queue_stats()).deferred == 1
    outcome = await state.cancel(job.id, jobs.cancel(utcnow(), client_cancel()))
    assert [j.id for j in outcome.ended] == [job.id]
    # Counted no more in the same step, not once its not-before time has passed.
    assert (await state.queue_stats()).deferred == 0
    assert state.queued == 0
    # Past its not-before time it is not handed out (nor does it end a claim early).
    later = make_job("submitted after the cancel")
    assert await state.claim("w2", SHORT * 3) is None
    await state.submit(later)
    taken = await state.claim("w2", 5)
    assert taken is not None and taken.id == later.id
    assert (await state.get_job(job.id)).status is JobStatus.CANCELED


async def test_a_deadline_ending_a_deferred_job_leaves_the_deferred_set(state: Any) -> None:
    job = await claimed(state)
    await state.defer(job.id, LONG, Resume(target=0, tries=0))
    # The sweep's cancel of a PENDING job (gateway/deadlines.py).
    outcome = await state.cancel(job.id, jobs.cancel(utcnow(), deadline_exceeded()))
    assert outcome.job.status is JobStatus.CANCELED
    assert outcome.job.error == deadline_exceeded()
    assert (await state.queue_stats()).deferred == 0


async def test_a_deferred_leader_canceled_hands_its_execution_over(state: Any) -> None:
    leader = await claimed(state, "deferred with a follower")
    follower = await state.submit(make_job("deferred with a follower"))
    await state.defer(leader.id, LONG, Resume(target=0, tries=0))
    await state.cancel(leader.id, jobs.cancel(utcnow(), client_cancel()))
    assert (await state.queue_stats()).deferred == 0
    # The follower now leads the execution and runs; the canceled leader never does.
    heir = await state.claim("w2", 5)
    assert heir is not None and heir.id == follower.id and heir.leader_id is None
    assert await state.claim("w3", SHORT) is None
    finished = await state.finish(heir.id, result=RESULT)
    assert [j.id for j in finished] == [follower.id]
    assert (await state.get_job(leader.id)).status is JobStatus.CANCELED
