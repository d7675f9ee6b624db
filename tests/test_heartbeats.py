"""A running job's heartbeats (gateway/heartbeats.py): one every `every` seconds while the
job runs, none after its end (one in flight is cancelled), a failed one does not stop the
next, none at all without `every`, and one that finds the delivery gone stops them and
says so (a pool's use of them: tests/test_worker_pool.py, tests/test_worker.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gateway.heartbeats import Heartbeats
from gateway.state.base import StateUnavailable
from tests.test_worker_pool import until

EVERY = 0.03


class Beating:
    """Records each heartbeat; `failures` make the first ones raise; `hang` holds each;
    the delivery is held for `held` heartbeats (None: for ever)."""

    def __init__(
        self, failures: list[Exception] | None = None, hang: bool = False, held: int | None = None
    ) -> None:
        self.beats: list[tuple[str, str]] = []
        self.failures = list(failures or [])
        self.hang = hang
        self.held = held
        self.cancelled = 0

    async def heartbeat(self, job_id: str, worker_id: str) -> bool:
        self.beats.append((job_id, worker_id))
        if self.failures:
            raise self.failures.pop(0)
        if self.hang:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.cancelled += 1
                raise
        return self.held is None or len(self.beats) <= self.held


def never_lost() -> None:
    raise AssertionError("the delivery was never lost")


async def test_heartbeats_come_every_interval_until_stopped() -> None:
    store: Any = Beating()
    beats = Heartbeats(store, "job_1", "pool-a", EVERY, never_lost)
    await until(lambda: len(store.beats) >= 3)
    await beats.stop()
    seen = len(store.beats)
    await asyncio.sleep(EVERY * 4)
    assert len(store.beats) == seen and set(store.beats) == {("job_1", "pool-a")}


async def test_a_failed_heartbeat_does_not_stop_the_next(caplog: pytest.LogCaptureFixture) -> None:
    store: Any = Beating(failures=[StateUnavailable("redis down"), RuntimeError("a bug")])
    beats = Heartbeats(store, "job_1", "pool-a", EVERY, never_lost)
    await until(lambda: len(store.beats) >= 3)
    await beats.stop()
    assert "heartbeat for job job_1 failed: redis down" in caplog.text
    assert "heartbeat for job job_1 failed unexpectedly: RuntimeError: a bug" in caplog.text


async def test_stopping_cancels_a_heartbeat_in_flight() -> None:
    store: Any = Beating(hang=True)
    beats = Heartbeats(store, "job_1", "pool-a", EVERY, never_lost)
    await until(lambda: len(store.beats) == 1)
    await beats.stop()
    assert store.cancelled == 1
    await asyncio.sleep(EVERY * 4)
    assert len(store.beats) == 1


async def test_no_interval_no_heartbeats() -> None:
    store: Any = Beating()
    beats = Heartbeats(store, "job_1", "pool-a", None, never_lost)
    await asyncio.sleep(EVERY * 4)
    await beats.stop()
    assert store.beats == []


async def test_a_heartbeat_that_finds_the_delivery_gone_stops_them_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store: Any = Beating(held=2)
    told: list[bool] = []
    beats = Heartbeats(store, "job_1", "pool-a", EVERY, lambda: told.append(True))
    await until(lambda: told == [True])
    assert beats.lost and len(store.beats) == 3
    await asyncio.sleep(EVERY * 4)
    assert len(store.beats) == 3 and told == [True]
    await beats.stop()
    assert "job job_1: its delivery is no longer this worker's" in caplog.text
