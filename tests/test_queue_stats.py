"""`queue_stats()` over both stores: what waits for a worker, and for how long."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

from gateway.settings import Settings
from gateway.state.memory import MemoryState
from gateway.state.redis import RedisState
from tests.conftest import AUTH
from tests.metrics_text import Scrape
from tests.test_state_contract import RESULT, MakeState, make_job


@pytest.fixture(params=["memory", "redis"])
async def make_state(request: pytest.FixtureRequest) -> AsyncIterator[MakeState]:
    url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    made: list[Any] = []

    def factory() -> Any:
        if url is None:
            made.append(MemoryState(job_ttl=60, cache_ttl=60))
        else:
            made.append(RedisState.from_url(url, job_ttl=60, cache_ttl=60, visibility_timeout=30))
        return made[-1]

    yield factory
    for state in made:
        await state.aclose()


async def test_depth_counts_jobs_not_yet_handed_out(make_state: MakeState) -> None:
    state = make_state()
    assert (await state.queue_stats()).depth == 0
    first, second, third = make_job("one"), make_job("two"), make_job("three")
    for job in (first, second, third):
        await state.submit(job)
    await asyncio.sleep(0.06)  # the oldest has waited at least this long
    stats = await state.queue_stats()
    assert stats.depth == 3 and stats.oldest_age >= 0.05
    claimed = await state.claim("w1", 1)
    after_claim = await state.queue_stats()
    assert claimed is not None and after_claim.depth == 2 and after_claim.oldest_age >= 0.05
    await state.finish(claimed.id, result=RESULT)
    await state.requeue((await state.claim("w1", 1)).id)  # handed back: waits again
    assert (await state.queue_stats()).depth == 2
    for _ in range(2):
        job = await state.claim("w1", 1)
        await state.finish(job.id, result=RESULT)
    assert await state.queue_stats() == type(stats)(0, 0.0)


async def test_followers_and_cached_jobs_do_not_queue(make_state: MakeState) -> None:
    state = make_state()
    leader = make_job("same")
    await state.submit(leader)
    await state.submit(make_job("same"))  # follows the leader's execution
    assert (await state.queue_stats()).depth == 1


def test_metrics_report_the_queue(
    make_client: Callable[..., TestClient],
    make_settings: Callable[..., Settings],
    state_url: str,
) -> None:
    settings = make_settings(state={"url": state_url}, workers={"concurrency": 0})
    client = make_client(settings)
    for prompt in ("a", "b"):
        assert client.post("/images/jobs", json={"prompt": prompt}, headers=AUTH).status_code == 202
    scrape = Scrape(client.get("/metrics").text)
    assert scrape.value("imagegate_queue_depth") == 2
    assert scrape.value("imagegate_queue_oldest_age_seconds") >= 0
