"""Job watches share their subscription commands (a real Redis and a real Redis Cluster):
watches started together go out in one SSUBSCRIBE, channels left within `LINGER` in one
SUNSUBSCRIBE, and no unsubscribe ever overtakes a later subscribe of its channel."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import pytest

from gateway.events import redis as redis_events
from gateway.events.redis import RedisJobEvents
from gateway.state.keys import Keys
from gateway.state.redis_client import close, connect

JOBS = [f"job_{i}" for i in range(8)]


@pytest.fixture
async def events(shared_url: str) -> AsyncIterator[RedisJobEvents]:
    made = RedisJobEvents.from_url(shared_url)
    yield made
    await made.aclose()


async def subscribers(url: str, job_id: str) -> int:
    """How many connections a publish on the job's channel reaches."""
    probe = connect(url)
    try:
        reached: int = await probe.spublish(Keys().events(job_id), "progress")
        return reached
    finally:
        await close(probe)


def counted(events: RedisJobEvents, monkeypatch: pytest.MonkeyPatch) -> dict[str, list[int]]:
    """The channel count of every SSUBSCRIBE and SUNSUBSCRIBE the events source sends."""
    sent: dict[str, list[int]] = {"ssubscribe": [], "sunsubscribe": []}
    pubsub: Any = events._pubsub
    for name in sent:
        real = getattr(pubsub, name)

        async def counting(*channels: str, _real: Any = real, _name: str = name) -> None:
            sent[_name].append(len(channels))
            await _real(*channels)

        monkeypatch.setattr(pubsub, name, counting)
    return sent


async def test_watches_started_together_subscribe_in_one_command_and_leave_in_one(
    events: RedisJobEvents, shared_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent = counted(events, monkeypatch)
    async with AsyncExitStack() as stack:
        watches = await asyncio.gather(*(stack.enter_async_context(events.watch(j)) for j in JOBS))
        assert sent["ssubscribe"] == [len(JOBS)]
        await events.publish(JOBS[-1:])
        assert await watches[-1].changed(5)
    assert sent["sunsubscribe"] == []  # not yet: the channels linger
    assert await subscribers(shared_url, JOBS[0]) == 1
    await asyncio.sleep(redis_events.LINGER * 3)
    assert sent["sunsubscribe"] == [len(JOBS)]
    for _ in range(100):  # Redis applies the SUNSUBSCRIBE just after it is sent
        if await subscribers(shared_url, JOBS[0]) == 0:
            break
        await asyncio.sleep(0.02)
    assert await subscribers(shared_url, JOBS[0]) == 0


async def test_a_job_watched_again_while_its_channel_lingers_keeps_it(
    events: RedisJobEvents, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent = counted(events, monkeypatch)
    async with events.watch("job_a"):
        pass
    async with events.watch("job_a") as again:
        await asyncio.sleep(redis_events.LINGER * 3)  # the unsubscribe's time came and went
        await events.publish(["job_a"])
        assert await again.changed(5)
    assert sent["ssubscribe"] == [1] and sent["sunsubscribe"] == []


async def test_a_subscribe_sent_while_an_unsubscribe_is_on_its_way_goes_out_after_it(
    events: RedisJobEvents, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The unsubscribe of a job's lingering channel is slow to go out; meanwhile the job is
    watched again. Its subscribe waits for the unsubscribe, so the watch hears the job
    (sent first, the subscribe would be undone by the unsubscribe)."""
    monkeypatch.setattr(redis_events, "LINGER", 0.01)
    pubsub: Any = events._pubsub
    real = pubsub.sunsubscribe
    leaving = asyncio.Event()

    async def slow_unsubscribe(*channels: str) -> None:
        leaving.set()
        await asyncio.sleep(0.2)
        await real(*channels)

    monkeypatch.setattr(pubsub, "sunsubscribe", slow_unsubscribe)
    async with events.watch("job_a"):
        pass
    await leaving.wait()
    async with events.watch("job_a") as again:
        await asyncio.sleep(0.4)  # the unsubscribe has gone out by now
        await events.publish(["job_a"])
        assert await again.changed(2)
