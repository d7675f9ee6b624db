"""The webhook outbox of both state stores: the event is recorded by the step that ends
the job (every ending), claims lease it, records are compare-and-set."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from gateway import jobs
from gateway.jobs import Job, JobError, JobStatus, WebhookState
from tests.test_state_contract import RESULT, make_job, make_state, run_to_success, state

__all__ = ["make_state", "state"]  # the contract suite's fixtures, over memory and Redis
HOOK = "https://hooks.example/in"


def hooked(prompt: str = "a lighthouse at dusk", **spec: Any) -> Job:
    return replace(make_job(prompt, **spec), webhook=WebhookState(url=HOOK))


async def test_an_ending_records_the_event_in_the_same_step(state: Any) -> None:
    assert await state.outbox.claim(10, 30) == []
    plain = make_job("no hook")
    await run_to_success(state, plain)
    job = hooked()
    await state.submit(job)
    stored = await state.get_job(job.id)
    assert stored.webhook.next_attempt_ms is None  # nothing to send before it ends
    assert await state.outbox.claim(10, 30) == []
    (finished,) = await run_to_success(state, job)
    assert finished.webhook.next_attempt_ms is not None
    (claimed,) = await state.outbox.claim(10, 30)
    assert claimed.id == job.id and claimed.status is JobStatus.SUCCEEDED
    assert claimed.webhook.attempts == 1 and claimed.webhook.url == HOOK


async def test_failures_cancels_cached_and_followers_each_record_one(state: Any) -> None:
    failed = hooked("fails")
    await state.submit(failed)
    await state.claim("w1", 1)
    await state.finish(failed.id, error=JobError("backend_unavailable", "down"))
    lost = hooked("kills its workers")  # what the finish pipeline writes for worker_lost
    await state.submit(lost)
    await state.claim("w1", 1)
    await state.finish(lost.id, error=jobs.worker_lost(state.max_deliveries))
    canceled = hooked("canceled")
    await state.submit(canceled)
    await state.cancel(canceled.id, jobs.cancel(datetime.now(UTC), jobs.client_cancel()))
    leader, follower = hooked("shared"), hooked("shared")
    await state.submit(leader)
    await state.submit(follower)
    await state.claim("w1", 1)
    await state.finish(leader.id, result=RESULT)
    cached = hooked("shared")
    await state.submit(cached)  # born SUCCEEDED from the cache
    claimed = {job.id: job.status for job in await state.outbox.claim(10, 30)}
    assert claimed == {
        failed.id: JobStatus.FAILED,
        lost.id: JobStatus.FAILED,
        canceled.id: JobStatus.CANCELED,
        leader.id: JobStatus.SUCCEEDED,
        follower.id: JobStatus.SUCCEEDED,
        cached.id: JobStatus.SUCCEEDED,
    }


async def test_a_claim_leases_and_a_lapsed_lease_is_due_again(state: Any) -> None:
    job = hooked()
    await run_to_success(state, job)
    (first,) = await state.outbox.claim(10, 1.0)
    assert await state.outbox.claim(10, 1.0) == []  # leased: nobody else takes it
    await asyncio.sleep(1.1)  # its deliverer "died": the lease lapses
    (again,) = await state.outbox.claim(10, 30)
    assert again.webhook.attempts == first.webhook.attempts + 1 == 2


async def test_records_are_compare_and_set_on_the_attempt_count(state: Any) -> None:
    job = hooked()
    await run_to_success(state, job)
    (stale,) = await state.outbox.claim(10, 0.05)
    await asyncio.sleep(0.1)
    (current,) = await state.outbox.claim(10, 30)
    delivered = replace(current.webhook, status="delivered", last_status=200)
    # The first claim's late record is refused: the event is the second claim's now.
    late = replace(stale.webhook, status="failed")
    assert await state.outbox.record(job.id, stale.webhook.attempts, late, None) is None
    written = await state.outbox.record(job.id, current.webhook.attempts, delivered, None)
    assert written.webhook.status == "delivered" and written.webhook.next_attempt_ms is None
    assert (await state.get_job(job.id)).webhook.status == "delivered"
    assert await state.outbox.claim(10, 30) == []


async def test_a_retry_is_due_after_its_delay(state: Any) -> None:
    job = hooked()
    await run_to_success(state, job)
    (claimed,) = await state.outbox.claim(10, 30)
    webhook = replace(claimed.webhook, last_status=503)
    await state.outbox.record(job.id, webhook.attempts, webhook, 1.0)
    assert await state.outbox.claim(10, 30) == []
    await asyncio.sleep(1.1)
    (retried,) = await state.outbox.claim(10, 30)
    assert retried.webhook.attempts == 2 and retried.webhook.last_status == 503
