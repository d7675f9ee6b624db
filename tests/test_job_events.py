"""Job change notifications over `memory://`, a real Redis and a real Redis Cluster (two
"processes" on each shared one)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from gateway.events import JobEvents, events_from_url
from gateway.settings import ConfigError
from gateway.state.keys import Keys
from gateway.state.redis_client import close, connect


@pytest.fixture
async def events(state_url: str) -> AsyncIterator[JobEvents]:
    made = events_from_url(state_url)
    yield made
    await made.aclose()


async def test_a_watch_wakes_for_its_job_only(events: JobEvents) -> None:
    async with events.watch("job_a") as watch:
        await events.publish(["job_b"])
        assert await watch.changed(0.2) is False
        await events.publish(["job_a"])
        assert await watch.changed(5) is True
        assert await watch.changed(0.05) is False  # one change, one wake


async def test_progress_wakes_a_watch_but_not_one_that_waits_for_an_ending(
    events: JobEvents,
) -> None:
    async with events.watch("job_a") as watch, events.watch("job_b") as marker:
        await events.publish(["job_a"], progress=True)
        assert await watch.changed(5)  # a live status stream sees progress
        await events.publish(["job_a"], progress=True)
        await events.publish(["job_b"])  # delivered after job_a's: that one has arrived
        assert await marker.changed(5)
        assert await watch.changed(0.05, progress=False) is False
        await events.publish(["job_a"], progress=True)
        await events.publish(["job_a"])  # an ending, a stop: anything but progress
        assert await watch.changed(5, progress=False)
        assert await watch.changed(0.05) is False  # both notifications were taken


async def test_every_watch_of_a_job_wakes_and_a_closed_one_stays_out(events: JobEvents) -> None:
    async with events.watch("job_a") as first:
        async with events.watch("job_a") as second:
            await events.publish(["job_a"])
            assert await first.changed(5) and await second.changed(5)
        await events.publish(["job_a"])
        assert await first.changed(5)


async def test_a_watch_can_add_a_job(events: JobEvents) -> None:
    async with events.watch("follower") as watch:
        await events.also(watch, "leader")
        await events.publish(["leader"])
        assert await watch.changed(5)


async def test_closing_the_source_ends_every_watch(state_url: str) -> None:
    events = events_from_url(state_url)
    async with events.watch("job_a") as watch:
        await events.aclose()
        assert await watch.changed(5) and watch.closed


async def test_a_change_published_by_another_process_is_heard(shared_url: str) -> None:
    here, there = events_from_url(shared_url), events_from_url(shared_url)
    try:
        async with here.watch("job_a") as watch:
            await there.publish(["job_a"])  # right after watch(): the subscription is live
            assert await watch.changed(5)
    finally:
        await here.aclose()
        await there.aclose()


async def test_the_last_watch_to_leave_unsubscribes(shared_url: str) -> None:
    events = events_from_url(shared_url)
    probe = connect(shared_url)
    channel = Keys().events("job_a")
    try:
        async with events.watch("job_a"), events.watch("job_a"):
            assert await probe.spublish(channel, "changed") == 1  # one subscriber: the process
        for _ in range(100):  # SUNSUBSCRIBE is sent on leaving; Redis applies it just after
            if await probe.spublish(channel, "changed") == 0:
                break
            await asyncio.sleep(0.02)
        assert await probe.spublish(channel, "changed") == 0
    finally:
        await close(probe)
        await events.aclose()


async def test_a_watch_starts_and_ends_without_waiting_out_a_poll(events: JobEvents) -> None:
    """On a cluster redis-py's subscriber holds its lock for a whole poll: with 1 s polls a
    watch's end (its unsubscribe) took 1.0 s, and every waited answer was that late."""
    loop = asyncio.get_running_loop()
    for job_id in ("job_a", "job_b", "job_c"):
        async with events.watch(job_id) as watch:
            await events.publish([job_id])
            assert await watch.changed(5)
            heard = loop.time()
        assert loop.time() - heard < 0.5


def test_an_unknown_scheme_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="nosuch://x"):
        events_from_url("nosuch://x")
