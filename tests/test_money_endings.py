"""The endings the other money tests leave out, over `memory://` and a real Redis: a joined
follower canceling, a queued leader canceled while a follower waits (its execution passes
to the follower, which reserves its own money), a running leader canceled for a follower
that still waits, a deadline ending a queued job and one its dead worker never stopped,
and a dead worker's delivery reclaimed by another process (Redis). At the end of each the
tenant's budget counter equals the sum of the charged attempts, and the job is settled."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from gateway import jobs
from gateway.budgets import Budget, Budgets
from gateway.deadlines import DeadlineSweep
from gateway.endings import Endings
from gateway.jobs import Attempt, Job, JobStatus, client_cancel, utcnow
from gateway.spend import JobSpend
from tests.test_deadlines import cancels_over
from tests.test_state_contract import (  # noqa: F401 (the contract suite's fixture)
    NOTHING,
    RESULT,
    MakeState,
    make_job,
    make_state,
    redis_state,
)

BUDGET = Budget(Decimal("1.00"), 86400)
ESTIMATE = Decimal("0.25")
CAP = Decimal("1.00")


async def submitted(state: Any, budgets: Budgets, prompt: str = "shared", **fields: Any) -> Job:
    """A job as admission submits it: the first attempt's reservation offered with it (the
    store takes it only when the job will run its own execution)."""
    reservation = budgets.reservation("demo", BUDGET, ESTIMATE)
    job = replace(make_job(prompt), reserved=(reservation.hold(),), **fields)
    stored: Job = await state.submit(job, reservation=reservation)
    return stored


async def charge(state: Any, spend: JobSpend, cost: str) -> None:
    """One attempt as the runner makes it: reserve its estimate, then record its charge."""
    assert await spend.reserve(ESTIMATE)
    spend.ledger.charge(Decimal(cost))
    await state.add_attempt(
        spend.job_id, Attempt("openai", "gpt-image-1", "ok", Decimal(cost), 9, ESTIMATE)
    )


async def assert_settled_to(state: Any, budgets: Budgets, amount: str, *job_ids: str) -> None:
    """The tenant's counter holds `amount`, exactly what the jobs' attempts were charged."""
    found = [await state.get_job(job_id) for job_id in job_ids]
    assert all(job.status.terminal for job in found)
    assert sum((job.cost for job in found), Decimal("0")) == Decimal(amount)
    assert await budgets.spent("demo", BUDGET) == Decimal(amount)


@pytest.fixture
def store(make_state: MakeState) -> Any:  # noqa: F811
    return make_state()


@pytest.fixture
def budgets(store: Any) -> Budgets:
    return Budgets(store)


async def test_a_joined_follower_canceling_holds_nothing_and_the_leader_pays_its_own(
    store: Any, budgets: Budgets
) -> None:
    state = store
    leader = await submitted(state, budgets)
    follower = await submitted(state, budgets)
    assert follower.leader_id == leader.id and follower.reserved == ()
    assert await budgets.spent("demo", BUDGET) == ESTIMATE  # the follower took nothing
    outcome = await state.cancel(follower.id, jobs.cancel(utcnow(), client_cancel()))
    assert [job.id for job in outcome.ended] == [follower.id]
    assert await budgets.spent("demo", BUDGET) == ESTIMATE
    claimed = await state.claim("w1", 1)
    assert claimed.id == leader.id
    await charge(state, JobSpend(claimed, CAP, BUDGET, budgets), "0.248335")
    ended = await Endings(state).finish(leader.id, RESULT)
    assert [job.id for job in ended] == [leader.id]
    await assert_settled_to(state, budgets, "0.248335", leader.id, follower.id)


async def test_a_queued_leader_canceled_hands_over_and_the_heir_reserves_its_own(
    store: Any, budgets: Budgets
) -> None:
    state = store
    leader = await submitted(state, budgets)
    follower = await submitted(state, budgets)
    outcome = await state.cancel(leader.id, jobs.cancel(utcnow(), client_cancel()))
    assert [job.id for job in outcome.ended] == [leader.id]
    assert await budgets.spent("demo", BUDGET) == 0  # the leader's hold went back, whole
    heir = await state.claim("w1", 1)
    assert heir.id == follower.id and heir.leader_id is None and heir.reserved == ()
    spend = JobSpend(heir, CAP, BUDGET, budgets)
    await charge(state, spend, "0.20")  # its first attempt reserves, on the heir
    assert (await state.get_job(heir.id)).reserved_total == ESTIMATE
    await Endings(state).finish(heir.id, RESULT)
    await assert_settled_to(state, budgets, "0.20", leader.id, heir.id)
    assert (await state.get_job(heir.id)).settled


async def test_a_running_leader_canceled_runs_on_for_its_follower_and_pays_once(
    store: Any, budgets: Budgets
) -> None:
    state = store
    leader = await submitted(state, budgets)
    claimed = await state.claim("w1", 1)
    follower = await submitted(state, budgets)
    assert follower.leader_id == leader.id
    outcome = await state.cancel(leader.id, jobs.cancel(utcnow(), client_cancel()))
    assert outcome.ended == [] and outcome.stopping is None  # the follower still waits
    await charge(state, JobSpend(claimed, CAP, BUDGET, budgets), "0.30")  # 0.05 over
    ended = {job.id: job.status for job in await Endings(state).finish(leader.id, RESULT)}
    assert ended == {leader.id: JobStatus.CANCELED, follower.id: JobStatus.SUCCEEDED}
    await assert_settled_to(state, budgets, "0.30", leader.id, follower.id)


async def test_deadlines_settle_a_queued_job_and_one_its_dead_worker_never_stopped(
    store: Any, budgets: Budgets
) -> None:
    state = store
    soon = utcnow() + timedelta(seconds=1)
    running = await submitted(state, budgets, deadline=soon)
    claimed = await state.claim("w1", 1)
    await charge(state, JobSpend(claimed, CAP, BUDGET, budgets), "0.10")  # then it dies
    queued = await submitted(state, budgets, "its own", deadline=soon)
    assert await budgets.spent("demo", BUDGET) == 2 * ESTIMATE
    sweep = DeadlineSweep(state, cancels_over(state), grace=30)
    assert await sweep.sweep(time.time() + 2) == 2
    assert (await state.get_job(queued.id)).status is JobStatus.CANCELED
    assert (await state.get_job(running.id)).stop  # told to stop; nobody does
    assert await budgets.spent("demo", BUDGET) == ESTIMATE  # the queued one's went back
    assert await sweep.sweep(time.time() + 40) == 1  # past the grace: forced
    for job_id in (running.id, queued.id):
        ended = await state.get_job(job_id)
        assert ended.status is JobStatus.CANCELED and ended.settled
        assert ended.error is not None and ended.error.code == "deadline_exceeded"
    await assert_settled_to(state, budgets, "0.10", running.id, queued.id)


async def test_a_reclaimed_delivery_starts_from_the_dead_workers_charges(redis_url: str) -> None:
    """Two processes (two clients of one Redis): the first claims, is charged and dies; the
    second reclaims the delivery once it is idle past the visibility timeout."""
    crashed = redis_state(redis_url, visibility_timeout=0.5)
    alive = redis_state(redis_url, visibility_timeout=0.5)
    try:
        budgets = Budgets(crashed)
        job = await submitted(crashed, budgets)
        first = await crashed.claim("dead-worker", 1)
        await charge(crashed, JobSpend(first, Decimal("0.45"), BUDGET, budgets), "0.25")
        deadline = time.monotonic() + 30
        while (reclaimed := await alive.claim("live-worker", NOTHING)) is None:
            assert time.monotonic() < deadline, "the delivery was never reclaimed"
            await asyncio.sleep(0.05)
        assert reclaimed.id == job.id and reclaimed.deliveries == 2
        again = JobSpend(reclaimed, Decimal("0.45"), BUDGET, Budgets(alive))
        assert (again.ledger.spent, again.ledger.attempts) == (Decimal("0.25"), 1)
        assert not again.ledger.can_afford(ESTIMATE)  # 0.25 + 0.25 would pass the 0.45 cap
        assert again.ledger.can_afford(Decimal("0.20"))
        await charge(alive, again, "0.19")
        assert len(await Endings(alive).finish(job.id, RESULT)) == 1
        assert await crashed.finish(job.id, result=RESULT) == []  # the dead one wakes late
        await assert_settled_to(alive, budgets, "0.44", job.id)
    finally:
        await crashed.aclose()
        await alive.aclose()
