"""One suite for every state store: `memory://`, a real redis-server and a real Redis
Cluster, same contract.

Redis-only tests at the end cover what memory cannot have: the stored JSON, round trips,
reclaiming a dead worker's delivery, the delivery limit, concurrent submits across
connections, and outages (a stopped, a hung and an absent server).
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from gateway.budgets import Budget, Budgets
from gateway.endings import Endings
from gateway.fingerprint import fingerprint
from gateway.jobs import (
    Attempt,
    Job,
    JobError,
    JobResult,
    JobSpec,
    JobStatus,
    Resume,
    StoredImage,
    delivery_exhausted,
    new_job_id,
    utcnow,
    worker_lost,
)
from gateway.state.base import StateStore, StateUnavailable
from gateway.state.keys import Keys
from gateway.state.memory import MemoryState
from gateway.state.redis import GROUP, RedisState
from gateway.usage.recorder import birth_usage
from tests.conftest import SHARED
from tests.servers import RedisServer, free_port

MakeState = Callable[..., Any]
RESULT = JobResult(
    prompt_sha256="ab" * 32,
    model="procedural",
    size="256x256",
    backend="procedural",
    duration_ms=12,
    attempts=1,
    cost=Decimal("0.040"),
    images=(StoredImage(key="images/ab.png", sha256="cd" * 32, width=256, height=256, bytes=99),),
)
# Text the scripts must carry through cjson untouched: quotes, a fake spec member, non-ASCII.
ERROR = JobError("backend_unavailable", 'vendor said 503: {"x":1,"spec":{}} — ☂ 🌅 \\/')
NOTHING = 0.05  # seconds a claim waits when the queue is expected to be empty


def make_job(prompt: str = "a lighthouse at dusk", tenant: str = "demo", **spec: Any) -> Job:
    job_spec = JobSpec(prompt=prompt, model="procedural", size="256x256", **spec)
    return Job(
        id=new_job_id(),
        tenant=tenant,
        spec=job_spec,
        fingerprint=fingerprint(job_spec),
    )


@pytest.fixture(params=["memory", "redis", "redis+cluster"])
async def make_state(request: pytest.FixtureRequest) -> AsyncIterator[MakeState]:
    """`make_state(job_ttl=60, cache_ttl=60, visibility_timeout=30)` on a clean store:
    in memory, on one Redis, on a Redis Cluster."""
    url = request.getfixturevalue(SHARED[request.param]) if request.param in SHARED else None
    made: list[StateStore] = []

    def factory(job_ttl: float = 60, cache_ttl: float = 60, visibility_timeout: float = 30) -> Any:
        state: StateStore
        if url is None:
            state = MemoryState(job_ttl=job_ttl, cache_ttl=cache_ttl)
        else:
            state = RedisState.from_url(
                url, job_ttl=job_ttl, cache_ttl=cache_ttl, visibility_timeout=visibility_timeout
            )
        made.append(state)
        return state

    yield factory
    for state in made:
        await state.aclose()


@pytest.fixture
def state(make_state: MakeState) -> Any:
    return make_state()


async def run_to_success(state: Any, job: Job) -> list[Job]:
    await state.submit(job)
    claimed = await state.claim("w1", 1)
    assert claimed is not None and claimed.id == job.id
    finished: list[Job] = await state.finish(job.id, result=RESULT)
    return finished


# -- the contract ------------------------------------------------------------------------
async def test_submit_claim_finish_round_trip(state: Any) -> None:
    job = make_job()
    stored = await state.submit(job)
    assert stored == job and stored.status is JobStatus.PENDING
    assert await state.get_job(job.id) == job
    assert await state.get_job("job_missing") is None

    claimed = await state.claim("w1", 1)
    assert claimed is not None and claimed.id == job.id
    assert claimed.status is JobStatus.RUNNING and claimed.deliveries == 1
    assert claimed.started_at is not None
    assert await state.get_job(job.id) == claimed

    finished = await state.finish(job.id, result=RESULT)
    assert [j.id for j in finished] == [job.id]
    done = await state.get_job(job.id)
    assert done == finished[0]
    assert done.status is JobStatus.SUCCEEDED and done.result == RESULT and done.error is None
    assert done.finished_at is not None and not done.cached
    assert await state.claim("w1", NOTHING) is None


async def test_job_document_survives_every_update_intact(state: Any) -> None:
    job = make_job(
        'un phare « au crépuscule » "quoted" /slash/ 🌅',
        seed=2**63 - 1,
        metadata={"fingerprint": "x", "spec": '{"a":[]}', "empty": ""},
        negative_prompt="no\nnewlines",
    )
    await state.submit(job)
    await state.claim("w1", 1)
    attempt = Attempt("procedural", "v1", "ok", Decimal("0.0400"), 7)
    await state.add_attempt(job.id, attempt)
    await state.finish(job.id, result=RESULT)
    stored = await state.get_job(job.id)
    assert stored.spec == job.spec
    assert stored.attempts == (attempt,) and stored.result == RESULT
    assert stored.created_at == job.created_at


async def test_the_inputs_of_a_live_edit_are_referenced_for_gc(state: Any) -> None:
    """gc deletes what nothing references: a queued edit's input images and mask are
    referenced (else an old upload could vanish before the job reads it)."""
    inputs = ("images/aa/" + "a" * 64 + ".png", "images/bb/" + "b" * 64 + ".png")
    mask = "images/cc/" + "c" * 64 + ".png"
    edit = make_job("an edit", operation="edit", images=inputs, mask=mask)
    await run_to_success(state, make_job("a generation"))
    await state.submit(edit)  # queued, not yet read by any worker
    output = {image.key for image in RESULT.images}
    assert await state.referenced_keys() == {*inputs, mask, *output}


async def test_submitting_an_id_twice_stores_and_queues_it_once(state: Any) -> None:
    job = make_job()
    first = await state.submit(job)
    again = await state.submit(job)
    assert again == first
    assert (await state.claim("w1", 1)).id == job.id
    assert await state.claim("w1", NOTHING) is None
    assert await state.count_active("demo") == 1


async def test_cached_result_makes_a_job_succeed_at_birth(state: Any) -> None:
    await run_to_success(state, make_job())
    twin = make_job()
    born = await state.submit(twin)
    assert born.id == twin.id
    assert born.status is JobStatus.SUCCEEDED and born.cached is True
    assert born.result == RESULT and born.finished_at is not None
    assert await state.get_job(twin.id) == born
    assert await state.claim("w1", NOTHING) is None
    assert await state.count_active("demo") == 0


async def test_no_cache_bypasses_the_cache_and_in_flight_jobs(state: Any) -> None:
    await run_to_success(state, make_job())
    fresh = await state.submit(make_job(no_cache=True))
    assert fresh.status is JobStatus.PENDING and not fresh.cached

    leader = await state.submit(make_job("another prompt"))
    loner = await state.submit(make_job("another prompt", no_cache=True))
    assert loner.leader_id is None and loner.status is JobStatus.PENDING
    claimed = {(await state.claim("w1", 1)).id for _ in range(3)}
    assert claimed == {fresh.id, leader.id, loner.id}


async def test_identical_job_in_flight_is_joined(state: Any) -> None:
    leader = await state.submit(make_job())
    early = await state.submit(make_job())
    assert early.leader_id == leader.id and early.status is JobStatus.PENDING
    await state.claim("w1", 1)
    assert (await state.get_job(early.id)).status is JobStatus.RUNNING
    late = await state.submit(make_job(tenant="other"))
    assert late.leader_id == leader.id and late.status is JobStatus.RUNNING
    assert await state.claim("w1", NOTHING) is None  # followers are never queued

    finished = await state.finish(leader.id, result=RESULT)
    assert [j.id for j in finished] == [leader.id, early.id, late.id]
    for job in finished:
        assert job == await state.get_job(job.id)
        assert job.status is JobStatus.SUCCEEDED and job.result == RESULT
    assert await state.count_active("demo") == 0
    assert await state.count_active("other") == 0


async def test_failures_fail_followers_and_are_not_cached(state: Any) -> None:
    leader = await state.submit(make_job())
    follower = await state.submit(make_job())
    await state.claim("w1", 1)
    finished = await state.finish(leader.id, error=ERROR)
    assert [(j.id, j.status, j.error) for j in finished] == [
        (leader.id, JobStatus.FAILED, ERROR),
        (follower.id, JobStatus.FAILED, ERROR),
    ]
    retry = await state.submit(make_job())
    assert retry.status is JobStatus.PENDING and not retry.cached and retry.leader_id is None
    assert (await state.claim("w1", 1)).id == retry.id


async def test_finish_writes_a_terminal_status_once(state: Any) -> None:
    job = make_job()
    [done] = await run_to_success(state, job)
    assert await state.finish(job.id, error=ERROR) == []
    assert await state.finish(job.id, result=RESULT) == []
    assert await state.get_job(job.id) == done
    assert await state.finish("job_missing", result=RESULT) == []


async def test_requeue_makes_a_running_job_claimable_again(state: Any) -> None:
    job = await state.submit(make_job())
    follower = await state.submit(make_job())
    await state.requeue(job.id)  # PENDING: nothing to give back, nothing queued twice
    assert (await state.claim("w1", 1)).id == job.id
    await state.requeue(job.id)
    assert (await state.get_job(job.id)).status is JobStatus.PENDING
    assert (await state.get_job(follower.id)).status is JobStatus.PENDING
    again = await state.claim("w2", 1)
    assert again.id == job.id and again.deliveries == 2
    assert await state.claim("w2", NOTHING) is None
    assert len(await state.finish(job.id, result=RESULT)) == 2


async def test_only_the_worker_holding_a_delivery_ends_requeues_or_defers_it(state: Any) -> None:
    """A worker that handed its job back no longer holds it (on Redis, neither does one
    whose delivery was reclaimed, below): once another worker claimed the job, the first
    one's finish, requeue and defer do nothing."""
    job = await state.submit(make_job())
    assert (await state.claim("w1", 1)).id == job.id
    assert await state.requeue(job.id, worker_id="w2") is False  # w1's, not w2's
    assert await state.requeue(job.id, worker_id="w1") is True
    assert (await state.claim("w2", 1)).id == job.id
    assert await state.finish(job.id, error=ERROR, worker_id="w1") == []
    assert await state.requeue(job.id, worker_id="w1") is False
    assert await state.defer(job.id, 0.0, Resume(0, 0), worker_id="w1") is False
    assert (await state.get_job(job.id)).status is JobStatus.RUNNING
    assert await state.claim("w1", NOTHING) is None  # nothing went back to the queue
    [done] = await state.finish(job.id, result=RESULT, worker_id="w2")
    assert done.status is JobStatus.SUCCEEDED and done.result == RESULT
    assert await state.finish(job.id, error=ERROR, worker_id="w2") == []


async def test_only_the_latest_delivery_of_a_job_ends_it_under_one_name(state: Any) -> None:
    """The workers of one process share a consumer name: a run of an earlier delivery (this
    process's stalled run, whose job its own claim loop took again) cannot end, requeue or
    defer the job; the run of the latest delivery can."""
    job = await state.submit(make_job())
    first = await state.claim("pool", 1)
    assert first.id == job.id
    assert await state.requeue(job.id, worker_id="pool", delivery=first.deliveries) is True
    second = await state.claim("pool", 1)
    assert second.deliveries == first.deliveries + 1
    stale = {"worker_id": "pool", "delivery": first.deliveries}
    assert await state.finish(job.id, error=ERROR, **stale) == []
    assert await state.requeue(job.id, **stale) is False
    assert await state.defer(job.id, 0.0, Resume(0, 0), **stale) is False
    assert (await state.get_job(job.id)).status is JobStatus.RUNNING
    [done] = await state.finish(job.id, result=RESULT, worker_id="pool", delivery=second.deliveries)
    assert done.status is JobStatus.SUCCEEDED


async def test_count_active_is_exact(state: Any) -> None:
    a = await state.submit(make_job("a"))
    await state.submit(make_job("a"))  # a follower is active too
    b = await state.submit(make_job("b"))
    await state.submit(make_job("c", tenant="other"))
    assert await state.count_active("demo") == 3
    assert await state.count_active("other") == 1
    assert await state.count_active("nobody") == 0
    claimed = await state.claim("w1", 1)
    assert claimed.id == a.id and await state.count_active("demo") == 3
    await state.finish(a.id, result=RESULT)
    assert await state.count_active("demo") == 1
    await state.submit(make_job("a"))  # cached at birth: never active
    assert await state.count_active("demo") == 1
    await state.claim("w1", 1)
    await state.finish(b.id, error=ERROR)
    assert await state.count_active("demo") == 0
    assert await state.count_active("other") == 1


async def test_jobs_expire_after_job_ttl(make_state: MakeState) -> None:
    state = make_state(job_ttl=0.5)
    job = await state.submit(make_job())
    assert await state.count_active("demo") == 1
    await asyncio.sleep(0.7)
    assert await state.get_job(job.id) is None
    assert await state.count_active("demo") == 0
    assert await state.claim("w1", NOTHING) is None
    # The expired job no longer holds the fingerprint: a new one leads and is joined.
    leader = await state.submit(make_job())
    follower = await state.submit(make_job())
    assert leader.leader_id is None and follower.leader_id == leader.id


async def test_results_expire_after_cache_ttl(make_state: MakeState) -> None:
    state = make_state(cache_ttl=0.5)
    await run_to_success(state, make_job())
    assert (await state.submit(make_job())).cached
    await asyncio.sleep(0.7)
    again = await state.submit(make_job())
    assert again.status is JobStatus.PENDING and not again.cached


async def test_attempts_are_recorded_until_the_job_ends(state: Any) -> None:
    job = await state.submit(make_job())
    await state.claim("w1", 1)
    first = Attempt("openai", "gpt-image-1", "backend_unavailable", Decimal("0"), 120)
    second = Attempt("procedural", "v1", "ok", Decimal("0.010"), 30)
    await state.add_attempt(job.id, first)
    await state.add_attempt(job.id, second)
    assert (await state.get_job(job.id)).attempts == (first, second)
    [done] = await state.finish(job.id, result=RESULT)
    assert done.attempts == (first, second) and done.cost == Decimal("0.010")
    await state.add_attempt(job.id, first)
    assert (await state.get_job(job.id)).attempts == (first, second)
    await state.add_attempt("job_missing", first)


async def test_the_store_announces_a_runs_start_attempts_and_endings(state: Any) -> None:
    """Nobody publishes here: the store tells watchers in the step that writes (the start
    and an attempt as progress, the ending of the leader and its follower as changed)."""
    leader = await state.submit(make_job())
    follower = await state.submit(make_job())
    async with state.events.watch(leader.id) as lead, state.events.watch(follower.id) as other:
        quiet = 0.2  # long enough for a notification in flight to arrive
        await state.claim("w1", 1)
        assert await lead.changed(5)
        assert not await lead.changed(quiet, progress=False)  # a start is progress
        await state.add_attempt(leader.id, Attempt("procedural", "v1", "ok", Decimal("0"), 3))
        assert await lead.changed(5)
        assert not await lead.changed(quiet, progress=False)  # so is an attempt
        assert not await other.changed(quiet, progress=False)
        await state.finish(leader.id, result=RESULT)
        assert await lead.changed(5, progress=False)
        assert await other.changed(5, progress=False)  # the follower ended with it
        await state.finish(leader.id, result=RESULT)  # a finish that applies to nothing
        assert not await lead.changed(quiet)


# -- Redis only ----------------------------------------------------------------------------
def redis_state(url: str, **options: Any) -> RedisState:
    settings = {"job_ttl": 60, "cache_ttl": 60, "visibility_timeout": 30, **options}
    return RedisState.from_url(url, **settings)


@pytest.fixture
async def raw(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def test_scripts_store_exactly_job_to_json(redis_url: str, raw: aioredis.Redis) -> None:
    state = redis_state(redis_url)
    try:

        async def stored() -> dict[str, Any]:
            data: dict[str, Any] = json.loads(await raw.get(state.job_key(job.id)))
            assert list(data)[-1] == "spec"  # what the scripts rely on
            return data

        job = await state.submit(make_job(seed=2**63 - 1))
        assert await stored() == job.to_json()
        claimed = await state.claim("w1", 1)
        assert await stored() == claimed.to_json() and (await stored())["attempts"] == []
        await state.add_attempt(job.id, Attempt("procedural", "v1", "ok", Decimal("0.01"), 5))
        assert await stored() == (await state.get_job(job.id)).to_json()
        [done] = await state.finish(job.id, error=ERROR)
        assert await stored() == done.to_json()
    finally:
        await state.aclose()


async def holders(raw: aioredis.Redis) -> list[bytes]:
    """The consumer holding each pending delivery of the queue."""
    pending = await raw.xpending_range(Keys().queue, GROUP, "-", "+", 10)
    return [entry["consumer"] for entry in pending]


async def test_a_stalled_workers_heartbeat_does_not_take_a_reclaimed_delivery_back(
    redis_url: str, raw: aioredis.Redis
) -> None:
    stalled = redis_state(redis_url, visibility_timeout=0.3)
    other = redis_state(redis_url, visibility_timeout=0.3)
    try:
        job = await stalled.submit(make_job())
        assert (await stalled.claim("stalled", 1)).id == job.id
        assert await stalled.heartbeat(job.id, "stalled")  # its own: kept
        await asyncio.sleep(0.4)
        assert (await other.claim("other", NOTHING)).id == job.id  # reclaimed
        # It wakes up late: told so (its run stops), and the delivery is not taken back.
        assert await stalled.heartbeat(job.id, "stalled") is False
        assert await holders(raw) == [b"other"]
        assert await other.heartbeat(job.id, "other")
        assert await holders(raw) == [b"other"]
        await other.finish(job.id, result=RESULT)
        assert await other.heartbeat(job.id, "other") is False  # its execution ended
    finally:
        await stalled.aclose()
        await other.aclose()


async def test_a_dead_workers_delivery_is_reclaimed(redis_url: str) -> None:
    crashed = redis_state(redis_url, visibility_timeout=0.5)
    alive = redis_state(redis_url, visibility_timeout=0.5)
    try:
        job = await crashed.submit(make_job())
        assert (await crashed.claim("dead-worker", 1)).id == job.id
        assert await alive.claim("live-worker", NOTHING) is None  # not yet idle long enough
        await asyncio.sleep(0.6)
        reclaimed = await alive.claim("live-worker", NOTHING)
        assert reclaimed is not None and reclaimed.id == job.id and reclaimed.deliveries == 2
        # The paused one wakes up: its ending is refused before the new holder's, and after.
        assert await crashed.finish(job.id, error=ERROR, worker_id="dead-worker") == []
        assert len(await alive.finish(job.id, result=RESULT, worker_id="live-worker")) == 1
        assert await crashed.finish(job.id, error=ERROR, worker_id="dead-worker") == []
        assert await crashed.finish(job.id, error=ERROR) == []  # ended: no one ends it again
        assert (await alive.get_job(job.id)).status is JobStatus.SUCCEEDED
        await asyncio.sleep(0.6)
        assert await alive.claim("live-worker", NOTHING) is None  # acked: nothing to reclaim
    finally:
        await crashed.aclose()
        await alive.aclose()


async def test_a_stalled_worker_cannot_end_a_job_another_consumer_reclaimed(
    shared_url: str,
) -> None:
    """Between its stall and its next heartbeat, a worker whose delivery was reclaimed
    could end the job, and the new holder's billed call would then never be recorded on it
    (attempts are recorded only while the job is active). Only the holder ends a run."""
    stalled = redis_state(shared_url, visibility_timeout=0.3)
    other = redis_state(shared_url, visibility_timeout=0.3)
    first = Attempt("procedural", "v1", "ok", Decimal("0.040"), 7)
    second = Attempt("procedural", "v1", "ok", Decimal("0.040"), 9)
    try:
        job = await stalled.submit(make_job())
        assert (await stalled.claim("stalled", 1)).id == job.id
        await stalled.add_attempt(job.id, first)
        await asyncio.sleep(0.4)
        assert (await other.claim("other", NOTHING)).id == job.id  # reclaimed
        # It wakes up before a heartbeat could tell it: none of its endings applies.
        assert await stalled.finish(job.id, result=RESULT, worker_id="stalled") == []
        assert await stalled.requeue(job.id, worker_id="stalled") is False
        assert await stalled.defer(job.id, 0.0, Resume(0, 0), worker_id="stalled") is False
        assert (await stalled.get_job(job.id)).status is JobStatus.RUNNING
        assert await other.heartbeat(job.id, "other")  # the delivery is still the other's
        await other.add_attempt(job.id, second)
        [done] = await other.finish(job.id, result=RESULT, worker_id="other")
        assert done.status is JobStatus.SUCCEEDED and done.attempts == (first, second)
        assert done.cost == Decimal("0.080")  # both billed calls, on the job
        assert await stalled.finish(job.id, error=ERROR, worker_id="stalled") == []
        assert await other.get_job(job.id) == done
    finally:
        await stalled.aclose()
        await other.aclose()


async def test_heartbeats_keep_a_long_job_from_being_reclaimed(redis_url: str) -> None:
    holder = redis_state(redis_url, visibility_timeout=0.5)
    other = redis_state(redis_url, visibility_timeout=0.5)
    try:
        job = await holder.submit(make_job())
        assert (await holder.claim("holder", 1)).id == job.id
        for _ in range(4):  # 1.2 s in all, well past the visibility timeout
            await asyncio.sleep(0.3)
            await holder.heartbeat(job.id, "holder")
            assert await other.claim("other", NOTHING) is None
        await asyncio.sleep(0.6)  # the holder stops beating: now it is reclaimable
        reclaimed = await other.claim("other", NOTHING)
        assert reclaimed is not None and reclaimed.id == job.id
    finally:
        await holder.aclose()
        await other.aclose()


async def test_referenced_keys_lists_live_results(state: Any) -> None:
    await run_to_success(state, make_job())
    assert await state.referenced_keys() == {image.key for image in RESULT.images}


async def test_a_stale_delivery_behind_many_live_ones_is_found(
    redis_url: str, raw: aioredis.Redis
) -> None:
    state = redis_state(redis_url, visibility_timeout=0.5)
    try:
        jobs = [await state.submit(make_job(f"prompt {i}")) for i in range(25)]
        for _ in jobs:
            await state.claim("busy", 1)
        await asyncio.sleep(0.6)
        # The first 24 deliveries are alive (their idle time is reset); the last is stale.
        pending = await raw.xpending_range(state.stream, "workers", "-", "+", 25)
        entries = [each["message_id"] for each in pending]
        await raw.xclaim(state.stream, "workers", "busy", 0, entries[:-1], justid=True)
        reclaimed = await state.claim("rescuer", NOTHING)
        assert reclaimed is not None and reclaimed.id == jobs[-1].id
    finally:
        await state.aclose()


async def test_a_job_delivered_too_often_ends_through_the_finish_pipeline(
    redis_url: str, raw: aioredis.Redis
) -> None:
    """`worker_lost` is an ending like any other: refunded, announced (webhooks, events)."""
    state = redis_state(redis_url, visibility_timeout=0.05)
    budgets = Budgets(state)
    announced: list[list[str]] = []

    async def hook(ended: list[Job]) -> None:
        announced.append([job.id for job in ended])

    endings = Endings(state, [hook])
    budget = Budget(Decimal("1.00"), 86400)
    reservation = budgets.reservation("demo", budget, Decimal("0.25"))
    try:
        job = await state.submit(
            replace(make_job(), reserved=(reservation.hold(),)), reservation=reservation
        )
        follower = await state.submit(make_job())
        assert await budgets.spent("demo", budget) == Decimal("0.25")
        for delivery in range(1, state.max_deliveries + 1):
            claimed = await state.claim(f"w{delivery}", 1)
            assert claimed is not None and claimed.deliveries == delivery
            assert not delivery_exhausted(claimed, state.max_deliveries)
            await asyncio.sleep(0.1)
        lost = await state.claim("last", NOTHING)
        assert lost is not None and lost.id == job.id
        assert delivery_exhausted(lost, state.max_deliveries)
        assert lost.status is JobStatus.RUNNING  # as the last dead worker left it: unstarted
        ended = await endings.finish(lost.id, worker_lost(state.max_deliveries))
        assert announced == [[job.id, follower.id]] == [[each.id for each in ended]]
        for each in (job, follower):
            failed = await state.get_job(each.id)
            assert failed.status is JobStatus.FAILED and failed.error.code == "worker_lost"
        assert await budgets.spent("demo", budget) == Decimal("0")  # the reservation went back
        assert await raw.xlen(state.stream) == 0
        assert await state.count_active("demo") == 0
        assert await endings.finish(lost.id, worker_lost(5)) == []  # ended once
        assert len(announced) == 1
    finally:
        await state.aclose()


async def test_concurrent_identical_submits_queue_once(redis_url: str, raw: aioredis.Redis) -> None:
    states = [redis_state(redis_url) for _ in range(5)]  # several connections, several clients
    try:
        jobs = [make_job() for _ in range(50)]
        stored = await asyncio.gather(*(states[i % 5].submit(job) for i, job in enumerate(jobs)))
        leaders = [job for job in stored if job.leader_id is None]
        assert len(leaders) == 1
        assert sum(job.leader_id == leaders[0].id for job in stored) == 49
        assert await raw.xlen(states[0].stream) == 1
        assert await raw.llen(states[0].followers_key(leaders[0].id)) == 49
        assert await states[0].count_active("demo") == 50
        assert (await states[1].claim("w1", 1)).id == leaders[0].id
        assert len(await states[2].finish(leaders[0].id, result=RESULT)) == 50
        assert await states[0].count_active("demo") == 0
    finally:
        for state in states:
            await state.aclose()


async def test_round_trips_per_call(redis_url: str, raw: aioredis.Redis) -> None:
    """The budget a benchmark holds us to: submit and poll are one round trip each."""
    await raw.script_flush()  # as after a restart: the first call of each script sends it
    state = redis_state(redis_url)
    calls: list[str] = []
    for client in (state.client, state.blocking):
        original = client.execute_command

        async def counted(*args: Any, _original: Any = original, **options: Any) -> Any:
            calls.append(str(args[0]))
            return await _original(*args, **options)

        client.execute_command = counted  # type: ignore[method-assign]

    async def trips(call: Awaitable[Any]) -> int:
        calls.clear()
        await call
        return len(calls)

    try:
        job = make_job()
        assert await trips(state.submit(job)) == 2  # a fresh server: EVALSHA, then EVAL
        assert await trips(state.submit(make_job())) == 1  # joins job: one EVALSHA
        assert await trips(state.get_job(job.id)) == 1
        await state.claim("w0", NOTHING)  # creates the consumer group, loads the scripts
        await state.requeue(job.id)
        assert await trips(state.claim("w1", 1)) == 1  # work waiting: one script
        attempt = Attempt("procedural", "v1", "ok", Decimal("0.01"), 5)
        await state.add_attempt(job.id, attempt)
        assert await trips(state.add_attempt(job.id, attempt)) == 1
        await state.count_active("demo")
        assert await trips(state.count_active("demo")) == 1
        assert await trips(state.finish(job.id, result=RESULT)) == 2  # first FINISH: EVAL
        assert await trips(state.get_job(job.id)) == 0  # ended: kept by the finish
        assert await trips(state.submit(make_job())) == 1  # cached at birth
        saving = birth_usage("demo", job.spec, utcnow(), ("procedural", Decimal("0.04")))
        assert await trips(state.submit(make_job(), cached=saving)) == 1  # and its usage
        assert await trips(state.claim("w1", 0.05)) == 2  # nothing waiting: + XREADGROUP
    finally:
        await state.aclose()


async def within(seconds: float, call: Awaitable[Any]) -> Any:
    """Hang guard: an outage must answer, not wait on a socket."""
    async with asyncio.timeout(seconds):
        return await call


async def test_outage_raises_state_unavailable_and_recovers(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis", aof=True)
    server.start()
    state = redis_state(server.url)
    try:
        job = await state.submit(make_job())
        server.stop()
        calls: dict[str, Callable[[], Awaitable[Any]]] = {
            "ping": state.ping,
            "submit": lambda: state.submit(make_job("other")),
            "get_job": lambda: state.get_job(job.id),
            "claim": lambda: state.claim("w1", 1),
            "add_attempt": lambda: state.add_attempt(
                job.id, Attempt("p", "m", "ok", Decimal(0), 1)
            ),
            "finish": lambda: state.finish(job.id, result=RESULT),
            "requeue": lambda: state.requeue(job.id),
            "count_active": lambda: state.count_active("demo"),
        }
        for name, call in calls.items():
            with pytest.raises(StateUnavailable) as caught:
                await within(5, call())
            message = str(caught.value)
            assert "redis://" not in message and "127.0.0.1" not in message, name

        server.start()  # same port; the AOF brings the job and the queue back
        await within(5, state.ping())
        assert (await state.get_job(job.id)).status is JobStatus.PENDING
        assert (await state.claim("w1", 1)).id == job.id
        assert len(await state.finish(job.id, result=RESULT)) == 1
    finally:
        await state.aclose()
        server.stop()


async def test_a_redis_that_never_answers_times_out() -> None:
    """A server that accepts connections and then says nothing (a hung or paused Redis)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        state = redis_state(f"redis://127.0.0.1:{listener.getsockname()[1]}/0")
        try:
            with pytest.raises(StateUnavailable, match="TimeoutError"):
                await within(8, state.get_job("job_x"))
        finally:
            await state.aclose()


async def test_unreachable_redis_answers_quickly() -> None:
    state = redis_state(f"redis://127.0.0.1:{free_port()}/0")
    try:
        with pytest.raises(StateUnavailable):
            await within(5, state.ping())
        with pytest.raises(StateUnavailable):
            await within(5, state.claim("w1", 1))
    finally:
        await state.aclose()


async def test_a_burst_past_the_default_pool_size_waits_instead_of_failing(
    redis_url: str,
) -> None:
    state = redis_state(redis_url)
    try:
        job = await state.submit(make_job())
        found = await asyncio.gather(*(state.get_job(job.id) for _ in range(400)))
        assert all(each is not None and each.id == job.id for each in found)
    finally:
        await state.aclose()
