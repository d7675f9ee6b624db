"""`CoalescingRedis` on a real redis-server: commands issued together share one write, each
caller gets its own reply or error, a cancelled caller does not stop the others, rate
limits through `limits` stay exact across concurrent hits, and the state's reads share a
write while a worker's blocking read waits on the state's other client."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from redis.exceptions import ResponseError

from gateway.quotas import RateLimiter, Refused
from gateway.state.redis import RedisState
from gateway.state.redis_client import close, connect


class PipelineCount:
    made = 0


def count_pipelines(client: Any) -> PipelineCount:
    """Count the pipelines `client` makes from now on (a coalesced batch is one)."""
    count = PipelineCount()
    original = client.pipeline

    def counted(*args: Any, **kwargs: Any) -> Any:
        count.made += 1
        return original(*args, **kwargs)

    client.pipeline = counted
    return count


async def test_concurrent_commands_share_one_pipeline_with_their_own_replies(
    redis_url: str,
) -> None:
    client: Any = connect(redis_url, coalesce=True)
    pipelines = count_pipelines(client)
    try:
        await client.set("text", "x")
        assert pipelines.made == 0  # alone: sent as before
        replies = await asyncio.gather(
            *(client.incr("n") for _ in range(20)),
            client.get("text"),
            client.hget("text", "field"),  # WRONGTYPE: this caller's error only
            return_exceptions=True,
        )
        assert pipelines.made == 1
        assert sorted(replies[:20]) == list(range(1, 21))  # type: ignore[type-var]
        assert replies[20] == b"x"
        assert isinstance(replies[21], ResponseError)
    finally:
        await close(client)


async def test_the_states_reads_share_a_write_while_a_claim_blocks(redis_url: str) -> None:
    state = RedisState.from_url(redis_url, job_ttl=60, cache_ttl=60, visibility_timeout=30)
    pipelines = count_pipelines(state.client)
    try:
        claim = asyncio.create_task(state.claim("worker-1", 2.0))  # the queue is empty
        await asyncio.sleep(0.3)  # it is blocked in its read now
        before = pipelines.made
        async with asyncio.timeout(1.0):  # not held up behind the blocked read
            found = await asyncio.gather(*(state.get_job(f"job_{i}") for i in range(5)))
        assert found == [None] * 5
        assert pipelines.made == before + 1  # the five GETs went out in one write
        assert not claim.done()
        assert await claim is None
    finally:
        await state.aclose()


async def test_a_cancelled_caller_leaves_the_others_their_replies(redis_url: str) -> None:
    client: Any = connect(redis_url, coalesce=True)
    try:
        first = asyncio.ensure_future(client.incr("n"))  # gathers the batch
        others = [asyncio.ensure_future(client.incr("n")) for _ in range(5)]
        await asyncio.sleep(0)  # every command queued, none sent yet
        first.cancel()
        others[0].cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        # The cancelled follower was first in the batch: its command ran all the same.
        assert sorted(await asyncio.gather(*others[1:])) == [2, 3, 4, 5]
        assert int(await client.get("n")) == 5
    finally:
        await close(client)


async def test_concurrent_hits_through_limits_stay_exact(redis_url: str) -> None:
    rates = RateLimiter.from_url(redis_url)
    try:
        await rates.storage.bridge.storage.script_flush()  # type: ignore[attr-defined]
        taken = await asyncio.gather(
            *(rates.acquire("30/minute;1000/day", "submit", "demo") for _ in range(50)),
            return_exceptions=True,
        )
        assert sum(result is True for result in taken) == 30
        assert all(isinstance(result, Refused) for result in taken if result is not True)
        report = await rates.report("30/minute;1000/day", "submit", "demo")
        assert (report.limit, report.remaining) == (30, 0)
    finally:
        await rates.aclose()
