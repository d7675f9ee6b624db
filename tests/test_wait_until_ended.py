"""`wait_until_ended`: a waiting caller wakes when the job ends, over memory:// and Redis."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal

from gateway.events import events_from_url, wait_until_ended
from gateway.fingerprint import fingerprint
from gateway.jobs import Job, JobResult, JobSpec, JobStatus, new_job_id
from gateway.settings import Settings
from gateway.state import state_from_settings

SPEC = JobSpec("a waited-for kite", "procedural", "256x256")
RESULT = JobResult("sha", "procedural", "256x256", "procedural", 5, 1, Decimal("0"), ())


async def test_a_waiter_wakes_when_the_job_ends(
    make_settings: Callable[..., Settings], store_url: str
) -> None:
    state = state_from_settings(make_settings(state={"url": store_url}))
    events = events_from_url(store_url)
    try:
        job = await state.submit(Job(new_job_id(), "demo", SPEC, fingerprint(SPEC, None)))
        waiter = asyncio.create_task(wait_until_ended(state, events, job.id, timeout=30))
        await asyncio.sleep(0.1)  # the waiter is watching
        assert not waiter.done()
        claimed = await state.claim("w1", 5)
        assert claimed is not None and claimed.id == job.id
        await events.publish([job.id])  # RUNNING is no ending: the waiter waits on
        await asyncio.sleep(0.1)
        assert not waiter.done()
        ended = await state.finish(job.id, result=RESULT)
        await events.publish([each.id for each in ended])
        async with asyncio.timeout(10):
            done = await waiter
        assert done is not None and done.status is JobStatus.SUCCEEDED
    finally:
        await events.aclose()
        await state.aclose()


async def test_a_timeout_answers_the_job_as_it_is(
    make_settings: Callable[..., Settings], store_url: str
) -> None:
    state = state_from_settings(make_settings(state={"url": store_url}))
    events = events_from_url(store_url)
    try:
        job = await state.submit(Job(new_job_id(), "demo", SPEC, fingerprint(SPEC, None)))
        waited = await wait_until_ended(state, events, job.id, timeout=0.05)
        assert waited is not None and waited.status is JobStatus.PENDING
        assert await wait_until_ended(state, events, "job_missing", timeout=0.05) is None
    finally:
        await events.aclose()
        await state.aclose()
