"""A job born from the result cache records its saved usage in the submit that stores it,
on every store (`memory://`, a real Redis, a real Redis Cluster): once per job, never for
a job that was not born from the cache, beside a budget reservation's key too."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from gateway.budgets import Budget, Budgets
from gateway.state.base import CachedBirth, StateStore
from gateway.state.memory import MemoryState
from gateway.state.redis import RedisState
from gateway.usage.recorder import birth_usage
from tests.conftest import SHARED
from tests.test_state_contract import RESULT, make_job

TARGET = ("procedural", Decimal("0.04"))
# Just before a UTC midnight: the record's day is the day the job ended.
AT = datetime(2026, 12, 3, 23, 59, 59, 999000, tzinfo=UTC)


@pytest.fixture(params=["memory", "redis", "redis+cluster"])
async def state(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    made: StateStore
    if request.param == "memory":
        made = MemoryState(job_ttl=60, cache_ttl=60)
    else:
        url = request.getfixturevalue(SHARED[request.param])
        made = RedisState.from_url(url, job_ttl=60, cache_ttl=60, visibility_timeout=30)
    yield made
    await made.aclose()


def birth(tenant: str = "demo", at: datetime = AT) -> CachedBirth:
    return birth_usage(tenant, make_job().spec, at, TARGET)


async def cache_result(state: Any) -> None:
    leader = await state.submit(make_job())
    assert (await state.claim("w1", 1)).id == leader.id
    await state.finish(leader.id, result=RESULT)


async def saved(state: Any, tenant: str = "demo") -> list[tuple[Any, ...]]:
    records = await state.usage.records(tenant, AT.date() - timedelta(days=1))
    return [(r.day, r.tenant, r.backend, r.jobs, r.saved_jobs, r.saved) for r in records]


async def test_a_cache_hit_records_its_saving_with_the_job_once(state: Any) -> None:
    await cache_result(state)
    job = make_job()
    born = await state.submit(job, cached=birth())
    assert born.cached and born.finished_at == AT
    again = await state.submit(job, cached=birth())  # a retried submit of the same id
    assert again == born
    await state.submit(make_job(), cached=birth())
    assert await saved(state) == [(AT.date(), "demo", "procedural", 0, 2, Decimal("0.08"))]


async def test_only_a_job_born_from_the_cache_records_a_saving(state: Any) -> None:
    leader = await state.submit(make_job(), cached=birth())  # queued: no cached result yet
    follower = await state.submit(make_job(), cached=birth())  # joins the leader
    assert not leader.cached and follower.leader_id == leader.id
    await state.claim("w1", 1)
    await state.finish(leader.id, result=RESULT)
    fresh = await state.submit(make_job(no_cache=True), cached=birth())
    assert not fresh.cached
    assert await saved(state) == []


async def test_a_cache_hit_beside_a_budget_reservation_reserves_nothing(state: Any) -> None:
    await cache_result(state)
    budgets, budget = Budgets(state), Budget.parse("5.00/day")
    reservation = budgets.reservation("other", budget, Decimal("0.25"))
    job = replace(make_job(tenant="other"), reserved=(reservation.hold(),))
    born = await state.submit(job, reservation=reservation, cached=birth("other"))
    assert born.cached and born.reserved == ()
    assert await budgets.spent("other", budget) == Decimal("0")
    assert await saved(state, "other") == [
        (AT.date(), "other", "procedural", 0, 1, Decimal("0.04"))
    ]
    assert await saved(state) == []  # the leader's own tenant saved nothing
