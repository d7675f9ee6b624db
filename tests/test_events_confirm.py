"""A subscription Redis is slow to confirm does not fail the watch: it goes on unconfirmed
(its periodic re-read covers a change published meanwhile), never a 500."""

from __future__ import annotations

import pytest

from gateway.events import redis as redis_events
from gateway.events.redis import RedisJobEvents
from gateway.events.waiting import wait_until_ended
from gateway.state.redis import RedisState
from tests.test_state_contract import RESULT, make_job


async def test_an_unconfirmed_subscription_still_waits(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(redis_events, "CONFIRM_WAIT", 0)  # no confirmation is ever in time
    state = RedisState.from_url(redis_url, job_ttl=60, cache_ttl=60, visibility_timeout=30)
    events = RedisJobEvents.from_url(redis_url)
    try:
        job = make_job("unconfirmed")
        await state.submit(job)
        pending = await wait_until_ended(state, events, job.id, 0.2)
        assert pending is not None and not pending.status.terminal
        assert await state.claim("w1", 1) is not None
        await state.finish(job.id, result=RESULT)
        done = await wait_until_ended(state, events, job.id, 5)
        assert done is not None and done.result == RESULT
    finally:
        await events.aclose()
        await state.aclose()
