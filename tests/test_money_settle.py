"""Every ending settles the job's money in the store's own step, exactly once, over
`memory://` and a real Redis: succeeded, failed, `worker_lost`, `storage_unavailable`,
canceled while queued, canceled while running, forced at a deadline. Afterwards the
tenant's counter holds exactly what the job's attempts were charged."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway import jobs
from gateway.jobs import Attempt, Hold, Job, JobError, JobSpec, client_cancel, worker_lost
from gateway.money.format import to_micros
from gateway.money.settle import settlement
from gateway.state.base import Reservation, StateStore
from gateway.state.memory import MemoryState
from gateway.state.redis import RedisState
from tests.test_state_contract import RESULT, MakeState, make_job, make_state  # noqa: F401

LIMIT = 10_000_000  # micro-dollars
WINDOW = 7


def reservation(state: Any, micros: int) -> Reservation:
    return Reservation(state.keys.budget("demo", 86400, WINDOW), micros, LIMIT, 172800)


async def admitted(state: Any, micros: int = 250_000) -> Job:
    hold = reservation(state, micros)
    job = replace(make_job(no_cache=True), reserved=(hold.hold(),))
    stored: Job = await state.submit(job, reservation=hold)
    assert stored.reserved_total == Decimal(micros) / 1_000_000
    return stored


async def charged(state: Any, job: Job, cost: str) -> None:
    attempt = Attempt("openai", "gpt-image-1", "ok", Decimal(cost), 9, Decimal("0.25"))
    await state.add_attempt(job.id, attempt)


Ending = Callable[[Any, Job], Awaitable[list[Job]]]


async def succeeded(state: Any, job: Job) -> list[Job]:
    return list(await state.finish(job.id, result=RESULT))


async def failed(state: Any, job: Job) -> list[Job]:
    return list(await state.finish(job.id, error=JobError("timeout", "no answer")))


async def lost(state: Any, job: Job) -> list[Job]:
    return list(await state.finish(job.id, error=worker_lost(5)))


async def unstored(state: Any, job: Job) -> list[Job]:
    return list(await state.finish(job.id, error=JobError("storage_unavailable", "s3 down")))


async def forced(state: Any, job: Job) -> list[Job]:
    outcome = await state.cancel(job.id, jobs.cancel(jobs.utcnow(), client_cancel(), force=True))
    return list(outcome.ended)


async def canceled_running(state: Any, job: Job) -> list[Job]:
    """A cancel recorded while it runs; it ends CANCELED when its worker finishes it."""
    await state.cancel(job.id, jobs.cancel(jobs.utcnow(), client_cancel()))
    return list(await state.finish(job.id, error=JobError("canceled", "stopped")))


@pytest.mark.parametrize(
    "ending",
    [succeeded, failed, lost, unstored, forced, canceled_running],
    ids=lambda e: e.__name__,
)
@pytest.mark.parametrize(("cost", "spent"), [("0", 0), ("0.248335", 248_335), ("0.30", 300_000)])
async def test_every_ending_of_a_running_job_settles_once_in_the_store(
    make_state: MakeState,  # noqa: F811
    ending: Ending,
    cost: str,
    spent: int,
) -> None:
    state = make_state()
    job = await admitted(state)
    await state.claim("w1", 1)
    await charged(state, job, cost)
    ended = await ending(state, job)  # the store alone: no pipeline, no refund call
    assert [each.id for each in ended] == [job.id] and ended[0].status.terminal
    key = reservation(state, 0).key
    assert await state.spent(key) == spent
    stored = await state.get_job(job.id)
    assert stored.settled and stored.cost == Decimal(cost)
    # Any later ending finds the job ended: nothing is settled twice.
    assert await succeeded(state, job) == [] and await forced(state, job) == []
    assert await state.spent(key) == spent


async def test_a_job_canceled_while_queued_gives_back_its_whole_reservation(
    make_state: MakeState,  # noqa: F811
) -> None:
    state = make_state()
    job = await admitted(state)
    other = await admitted(state, 40_000)
    outcome = await state.cancel(job.id, jobs.cancel(jobs.utcnow(), client_cancel()))
    assert [each.id for each in outcome.ended] == [job.id]
    assert await state.spent(reservation(state, 0).key) == 40_000  # only the other's hold
    await state.cancel(job.id, jobs.cancel(jobs.utcnow(), client_cancel()))
    assert await state.spent(reservation(state, 0).key) == 40_000
    assert (await state.get_job(other.id)).settled is False


async def test_a_retry_reservation_goes_back_before_the_admission_one(
    make_state: MakeState,  # noqa: F811
) -> None:
    state = make_state()
    job = await admitted(state)
    await state.claim("w1", 1)
    retry = Reservation(state.keys.budget("demo", 86400, WINDOW + 1), 250_000, LIMIT, 172800)
    assert await state.reserve(retry, job.id)
    await charged(state, job, "0.10")
    await charged(state, job, "0.20")
    await failed(state, job)
    # 0.30 charged of 0.50 held: the newer window's 0.25 loses 0.20, the first keeps 0.25.
    assert await state.spent(reservation(state, 0).key) == 250_000
    assert await state.spent(retry.key) == 50_000


def test_settlement_arithmetic() -> None:
    spec = JobSpec(prompt="p", model="m", size="1x1")
    holds = (Hold("a", Decimal("0.25")), Hold("b", Decimal("0.10")))
    job = Job("job_1", "demo", spec, "fp", status=jobs.JobStatus.FAILED, reserved=holds)

    def with_cost(cost: str) -> Job:
        return replace(job, attempts=(Attempt("x", "y", "ok", Decimal(cost), 1),))

    assert settlement(job) == [("b", -100_000), ("a", -250_000)]
    assert settlement(with_cost("0.30")) == [("b", -50_000)]  # newest first
    assert settlement(with_cost("0.35")) == []
    assert settlement(with_cost("0.3500005")) == [("b", 1)]  # half up, to the micro-dollar
    assert settlement(replace(job, reserved=())) == []


async def settle_scenario(state: StateStore, holds: list[int], costs: list[Decimal]) -> None:
    """A job holding `holds` (micro-dollars, each in a window of its own), charged `costs`,
    then failed: each counter ends where `settlement` says, the sum at what was charged."""
    tenant = "t" + secrets.token_hex(6)  # a fresh set of counters for each example
    keys = [state.keys.budget(tenant, 86400, window) for window in range(len(holds))]
    first, *later = (Reservation(k, h, LIMIT, 172800) for k, h in zip(keys, holds, strict=True))
    job = replace(make_job(tenant=tenant, no_cache=True), reserved=(first.hold(),))
    job = await state.submit(job, reservation=first)
    await state.claim("w1", 1)
    for reservation in later:
        assert await state.reserve(reservation, job.id)
    for cost in costs:
        await state.add_attempt(job.id, Attempt("openai", "gpt-image-1", "ok", cost, 9))
    (ended,) = await state.finish(job.id, error=JobError("timeout", "no answer"))
    moves = dict(settlement(ended))
    spent = [await state.spent(key) for key in keys]
    assert spent == [hold + moves.get(key, 0) for key, hold in zip(keys, holds, strict=True)]
    assert sum(spent) == sum(to_micros(cost) for cost in costs)
    assert (await state.get_job(job.id)).settled and min(spent) >= 0


HOLDS = st.lists(st.integers(min_value=1, max_value=2_000_000), min_size=1, max_size=3)
COSTS = st.lists(
    st.decimals(min_value=0, max_value=3, places=6, allow_nan=False, allow_infinity=False),
    max_size=4,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(holds=HOLDS, costs=COSTS)
def test_the_store_settles_any_holds_and_charges_to_exactly_what_was_charged(
    redis_url: str, holds: list[int], costs: list[Decimal]
) -> None:
    """The Lua arithmetic (floats from decimal strings) and the memory store's both agree
    with `settlement` for every amount, to the micro-dollar."""

    async def both() -> None:
        ttls = {"job_ttl": 60, "cache_ttl": 60}
        redis = RedisState.from_url(redis_url, **ttls, visibility_timeout=30)
        for state in (MemoryState(**ttls), redis):
            try:
                await settle_scenario(state, holds, costs)
            finally:
                await state.aclose()

    asyncio.run(both())
