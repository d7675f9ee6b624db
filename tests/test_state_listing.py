"""Listing a tenant's jobs from its own index, over `memory://` and a real Redis: newest
first, cursors stable while new jobs arrive, status and time filters, bounded reads."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis

from gateway.jobs import Job, JobStatus, epoch_ms, utcnow
from gateway.state.base import ListQuery
from tests.test_state_contract import RESULT, make_job, make_state, raw, redis_state, state

__all__ = ["make_state", "raw", "state"]  # fixtures used by name


class Base:
    """Each test's jobs are created from 10 s before it starts: well within the stores'
    job_ttl (60 s), whenever the test runs."""

    moment = utcnow()


@pytest.fixture(autouse=True)
def fresh_base() -> None:
    Base.moment = utcnow() - timedelta(seconds=10)


def ms(moment: datetime) -> int:
    return epoch_ms(moment)


async def submitted(state: Any, count: int, tenant: str = "demo", start: int = 0) -> list[Job]:
    """`count` distinct jobs created 10 ms apart, oldest first."""
    made = []
    for i in range(start, start + count):
        job = replace(
            make_job(f"{tenant} prompt {i}", tenant=tenant),
            created_at=Base.moment + timedelta(milliseconds=10 * i),
        )
        made.append(await state.submit(job))
    return made


async def every_page(state: Any, query: ListQuery) -> list[list[str]]:
    pages, cursor = [], None
    while True:
        page = await state.list_jobs(replace(query, cursor=cursor))
        pages.append([job.id for job in page.jobs])
        if page.next is None:
            return pages
        cursor = page.next


async def test_newest_first_in_pages_with_a_stable_cursor(state: Any) -> None:
    made = await submitted(state, 7)
    await submitted(state, 3, tenant="other")
    newest_first = [job.id for job in reversed(made)]
    first = await state.list_jobs(ListQuery("demo", limit=3))
    assert [job.id for job in first.jobs] == newest_first[:3] and first.next is not None
    # New jobs arrive between pages: they are newer, so the next pages do not move.
    await submitted(state, 2, start=100)
    second = await state.list_jobs(ListQuery("demo", limit=3, cursor=first.next))
    assert [job.id for job in second.jobs] == newest_first[3:6]
    third = await state.list_jobs(ListQuery("demo", limit=3, cursor=second.next))
    assert [job.id for job in third.jobs] == newest_first[6:] and third.next is None


async def test_only_the_tenants_own_jobs(state: Any) -> None:
    await submitted(state, 2)
    theirs = await submitted(state, 2, tenant="other")
    page = await state.list_jobs(ListQuery("other", limit=10))
    assert {job.id for job in page.jobs} == {job.id for job in theirs}
    assert (await state.list_jobs(ListQuery("nobody", limit=10))).jobs == []


async def test_status_filter(state: Any) -> None:
    made = await submitted(state, 4)
    await state.claim("w1", 1)  # the oldest: RUNNING
    await state.finish(made[0].id, result=RESULT)
    claimed = await state.claim("w1", 1)
    assert claimed.id == made[1].id
    running = await state.list_jobs(ListQuery("demo", 10, frozenset({JobStatus.RUNNING})))
    assert [job.id for job in running.jobs] == [made[1].id]
    either = frozenset({JobStatus.SUCCEEDED, JobStatus.PENDING})
    found = await state.list_jobs(ListQuery("demo", 10, either))
    assert [job.id for job in found.jobs] == [made[3].id, made[2].id, made[0].id]


async def test_created_bounds_are_exclusive(state: Any) -> None:
    made = await submitted(state, 6)
    query = ListQuery(
        "demo", limit=10, after_ms=ms(made[1].created_at), before_ms=ms(made[4].created_at)
    )
    assert await every_page(state, query) == [[made[3].id, made[2].id]]
    paged = await every_page(state, replace(query, limit=1))
    assert [ids for ids in paged if ids] == [[made[3].id], [made[2].id]]


async def test_a_rare_status_is_found_across_bounded_reads(state: Any) -> None:
    made = await submitted(state, 9)
    await state.claim("w1", 1)  # made[0] RUNNING, the oldest
    query = ListQuery("demo", limit=5, statuses=frozenset({JobStatus.RUNNING}), scan=4)
    pages = await every_page(state, query)
    assert len(pages) == 3  # 9 entries read 4 at a time
    assert [job_id for page in pages for job_id in page] == [made[0].id]


async def test_jobs_in_the_same_millisecond_are_all_listed_once(state: Any) -> None:
    moment = Base.moment
    made = [await state.submit(replace(make_job(f"same {i}"), created_at=moment)) for i in range(5)]
    pages = await every_page(state, ListQuery("demo", limit=2))
    listed = [job_id for page in pages for job_id in page]
    assert sorted(listed) == sorted(job.id for job in made) and len(listed) == 5


async def test_listing_is_one_script_and_never_a_scan(redis_url: str, raw: aioredis.Redis) -> None:
    state = redis_state(redis_url)
    try:
        await submitted(state, 5)
        await state.list_jobs(ListQuery("demo", limit=2))  # the script is loaded
        calls: list[str] = []
        original = state.client.execute_command

        async def counted(*args: Any, **options: Any) -> Any:
            calls.append(str(args[0]))
            return await original(*args, **options)

        state.client.execute_command = counted  # type: ignore[method-assign]
        page = await state.list_jobs(ListQuery("demo", limit=2))
        await state.list_jobs(ListQuery("demo", limit=2, cursor=page.next))
        assert calls == ["EVALSHA", "EVALSHA"]
        # The script reads the tenant's index, not the keyspace.
        assert "SCAN" not in lua_source() and "'KEYS'" not in lua_source()
    finally:
        await state.aclose()


def lua_source() -> str:
    from gateway.state import redis_scripts

    return redis_scripts.LIST
