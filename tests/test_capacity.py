"""Concurrency slots: per process (`LocalCapacity`) and global on Redis with leases
(`RedisCapacity`): the cap holds across holders, never waits, and a dead holder's slot
comes back when its lease runs out while a live holder's lease is renewed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from gateway.capacity import CapacityFull, LocalCapacity, capacity_from_settings
from gateway.capacity_redis import RedisCapacity
from gateway.settings import ConfigError, Settings
from gateway.state.keys import Keys


async def test_a_local_cap_refuses_at_once_when_full() -> None:
    capacity = LocalCapacity({"gpu": 2, "free": None})
    async with capacity.slot("gpu"), capacity.slot("gpu"):
        with pytest.raises(CapacityFull):
            async with capacity.slot("gpu"):
                pass
        async with capacity.slot("free"), capacity.slot("free"), capacity.slot("free"):
            pass  # no cap
    async with capacity.slot("gpu"):  # given back
        pass


@pytest.fixture
async def make_capacity(shared_url: str) -> AsyncIterator[Callable[..., RedisCapacity]]:
    """`make_capacity(cap, lease)`: one holder process's view of the global cap on "gpu"
    (on one Redis, then on a Redis Cluster)."""
    made: list[RedisCapacity] = []

    def factory(cap: int = 2, lease: float = 30.0) -> RedisCapacity:
        made.append(RedisCapacity.from_url(shared_url, {"gpu": cap}, {"gpu": lease}))
        return made[-1]

    yield factory
    for capacity in made:
        await capacity.aclose()


async def full(capacity: RedisCapacity) -> bool:
    try:
        async with capacity.slot("gpu"):
            return False
    except CapacityFull:
        return True


async def test_a_global_cap_holds_across_holders(make_capacity: Callable[..., Any]) -> None:
    one, two = make_capacity(cap=2), make_capacity(cap=2)
    async with one.slot("gpu"):
        async with two.slot("gpu"):
            assert await full(one) and await full(two)
        assert not await full(one)  # a released slot is free again at once
    assert await one.client.zcard(Keys().capacity("gpu")) == 0


async def test_racing_takers_never_pass_the_cap(make_capacity: Callable[..., Any]) -> None:
    holders = [make_capacity(cap=3) for _ in range(4)]
    inside = peak = 0
    taken = 0
    release = asyncio.Event()

    async def take(capacity: RedisCapacity) -> None:
        nonlocal inside, peak, taken
        try:
            async with capacity.slot("gpu"):
                inside += 1
                taken += 1
                peak = max(peak, inside)
                await release.wait()
                inside -= 1
        except CapacityFull:
            pass

    tasks = [asyncio.create_task(take(holders[i % 4])) for i in range(40)]
    deadline = time.monotonic() + 20
    while sum(task.done() for task in tasks) < 37 and time.monotonic() < deadline:
        await asyncio.sleep(0.01)  # until 37 were refused (3 hold a slot)
    release.set()
    await asyncio.gather(*tasks)
    assert (peak, taken) == (3, 3)


async def test_a_dead_holders_slot_comes_back_after_its_lease(
    make_capacity: Callable[..., Any],
) -> None:
    capacity = make_capacity(cap=1, lease=30.0)
    # A holder that took the slot with a 1 s lease and died: nothing renews or releases it.
    await capacity._take(keys=[Keys().capacity("gpu")], args=[1, 1000, "dead-holder"])
    assert await full(capacity)
    deadline = time.monotonic() + 20
    while await full(capacity):
        assert time.monotonic() < deadline, "the dead holder's slot never came back"
        await asyncio.sleep(0.05)


async def test_a_live_holders_lease_is_renewed(make_capacity: Callable[..., Any]) -> None:
    holder, other = make_capacity(cap=1, lease=2.0), make_capacity(cap=1, lease=2.0)
    checks = 0
    async with holder.slot("gpu"):
        # Hold for two leases and more: without renewal the slot would expire meanwhile.
        until = time.monotonic() + 5.0
        while time.monotonic() < until:
            assert await full(other)
            checks += 1
            await asyncio.sleep(0.1)
    assert checks > 0 and not await full(other)


def test_a_global_scope_needs_a_cap(make_settings: Callable[..., Settings]) -> None:
    with pytest.raises(ConfigError, match=r"concurrency_scope.*needs max_concurrency"):
        make_settings(backends={"procedural": {"concurrency_scope": "global"}})
    with pytest.raises(ConfigError, match="concurrency_lease"):
        make_settings(backends={"procedural": {"max_concurrency": 1, "concurrency_lease": "0s"}})


def test_memory_state_counts_a_global_cap_in_process(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(
        backends={"procedural": {"max_concurrency": 1, "concurrency_scope": "global"}}
    )
    assert isinstance(capacity_from_settings(settings), LocalCapacity)
