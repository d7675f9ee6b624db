"""The state contract of cancel and deadlines, over `memory://` and a real Redis: cancel in
every state and role (plain, leader with followers, follower), the hand-over of a queued
execution, stop and forced endings, and the deadline index."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

from gateway import jobs
from gateway.jobs import (
    Attempt,
    JobError,
    JobStatus,
    VendorJob,
    client_cancel,
    deadline_exceeded,
    utcnow,
)
from gateway.state.base import Reservation
from tests.test_state_contract import NOTHING, RESULT, make_job, make_state, state

__all__ = ["make_state", "state"]  # fixtures used by name


def cancel(**options: Any) -> jobs.Cancel:
    return jobs.cancel(utcnow(), client_cancel(), **options)


async def test_cancel_a_pending_job_ends_it_and_empties_the_queue(state: Any) -> None:
    job = await state.submit(make_job())
    outcome = await state.cancel(job.id, cancel())
    assert outcome.job.status is JobStatus.CANCELED and outcome.job.error == client_cancel()
    assert [j.id for j in outcome.ended] == [job.id] and outcome.stopping is None
    assert (await state.get_job(job.id)).status is JobStatus.CANCELED
    assert await state.claim("w1", NOTHING) is None
    assert await state.count_active("demo") == 0
    # A new identical job is not joined to the canceled one: it runs on its own.
    again = await state.submit(make_job())
    assert again.leader_id is None
    assert (await state.claim("w1", 1)).id == again.id


async def test_cancel_a_terminal_or_missing_job_changes_nothing(state: Any) -> None:
    job = make_job()
    await state.submit(job)
    await state.claim("w1", 1)
    await state.finish(job.id, result=RESULT)
    outcome = await state.cancel(job.id, cancel())
    assert outcome.job.status is JobStatus.SUCCEEDED and outcome.ended == []
    assert (await state.cancel("job_missing", cancel())).job is None


async def test_cancel_a_running_job_asks_its_worker_to_stop(state: Any) -> None:
    job = await state.submit(make_job())
    await state.claim("w1", 1)
    outcome = await state.cancel(job.id, cancel())
    assert outcome.ended == [] and outcome.stopping == job.id
    running = outcome.job
    assert running.status is JobStatus.RUNNING and running.stop
    assert running.cancel == client_cancel()
    # A second cancel (a deadline) keeps the first reason.
    again = await state.cancel(job.id, jobs.cancel(utcnow(), deadline_exceeded()))
    assert again.job.cancel == client_cancel() and again.stopping == job.id
    # It can no longer be joined: an identical job starts its own execution.
    fresh = await state.submit(make_job())
    assert fresh.leader_id is None
    # The worker records what it was charged and ends it through finish: CANCELED.
    await state.add_attempt(job.id, Attempt("procedural", "v1", "canceled", Decimal("0.04"), 9))
    ended = await state.finish(job.id, error=client_cancel())
    assert [(j.id, j.status) for j in ended] == [(job.id, JobStatus.CANCELED)]
    assert ended[0].error == client_cancel() and ended[0].cost == Decimal("0.04")


async def test_a_forced_cancel_ends_a_running_job_at_once(state: Any) -> None:
    job = await state.submit(make_job())
    await state.claim("w1", 1)
    await state.cancel(job.id, cancel())
    forced = await state.cancel(job.id, jobs.cancel(utcnow(), deadline_exceeded(), force=True))
    assert [j.status for j in forced.ended] == [JobStatus.CANCELED]
    assert forced.job.error == deadline_exceeded()
    assert await state.finish(job.id, error=client_cancel()) == []  # the worker's, too late
    assert await state.count_active("demo") == 0


async def test_a_follower_cancels_only_itself(state: Any) -> None:
    leader = await state.submit(make_job())
    follower = await state.submit(make_job())
    assert follower.leader_id == leader.id
    outcome = await state.cancel(follower.id, cancel())
    assert [j.id for j in outcome.ended] == [follower.id] and outcome.stopping is None
    claimed = await state.claim("w1", 1)
    assert claimed.id == leader.id
    finished = await state.finish(leader.id, result=RESULT)
    assert [j.id for j in finished] == [leader.id]  # the canceled follower stays CANCELED
    assert (await state.get_job(follower.id)).status is JobStatus.CANCELED


async def test_a_queued_leader_hands_its_execution_to_its_oldest_follower(state: Any) -> None:
    leader = await state.submit(make_job())
    first = await state.submit(make_job())
    second = await state.submit(make_job())
    outcome = await state.cancel(leader.id, cancel())
    assert [j.id for j in outcome.ended] == [leader.id]
    heir = await state.get_job(first.id)
    assert heir.status is JobStatus.PENDING and heir.leader_id is None
    assert (await state.get_job(second.id)).leader_id == first.id
    late = await state.submit(make_job())  # joins the heir's execution
    assert late.leader_id == first.id
    claimed = await state.claim("w1", 1)
    assert claimed.id == first.id
    assert await state.claim("w2", NOTHING) is None  # queued once, under the heir
    finished = await state.finish(first.id, result=RESULT)
    assert {j.id for j in finished} == {first.id, second.id, late.id}
    assert all(j.status is JobStatus.SUCCEEDED for j in finished)
    assert (await state.get_job(leader.id)).status is JobStatus.CANCELED


async def test_a_running_leader_goes_on_while_others_wait_then_ends_canceled(state: Any) -> None:
    leader = await state.submit(make_job())
    await state.claim("w1", 1)
    follower = await state.submit(make_job())
    assert follower.status is JobStatus.RUNNING and follower.leader_id == leader.id
    outcome = await state.cancel(leader.id, cancel())
    assert outcome.ended == [] and outcome.stopping is None
    assert outcome.job.cancel == client_cancel() and not outcome.job.stop
    finished = await state.finish(leader.id, result=RESULT)
    by_id = {j.id: j for j in finished}
    assert by_id[leader.id].status is JobStatus.CANCELED and by_id[leader.id].result is None
    assert by_id[leader.id].error == client_cancel()
    assert by_id[follower.id].status is JobStatus.SUCCEEDED
    assert by_id[follower.id].result == RESULT


async def test_the_last_follower_leaving_stops_a_canceled_execution(state: Any) -> None:
    leader = await state.submit(make_job())
    await state.claim("w1", 1)
    followers = [await state.submit(make_job()) for _ in range(2)]
    await state.cancel(leader.id, cancel())
    first = await state.cancel(followers[0].id, cancel())
    assert first.stopping is None
    last = await state.cancel(followers[1].id, cancel())
    assert [j.id for j in last.ended] == [followers[1].id] and last.stopping == leader.id
    assert (await state.get_job(leader.id)).stop


async def test_deadlines_are_due_until_their_job_ends(state: Any) -> None:
    soon = replace(make_job("soon"), deadline=utcnow() + timedelta(seconds=1))
    later = replace(make_job("later"), deadline=utcnow() + timedelta(hours=1))
    await state.submit(soon)
    await state.submit(later)
    await state.submit(make_job("none"))
    now = time.time()
    assert await state.due(now, 10) == []
    assert await state.due(now + 2, 10) == [soon.id]
    assert set(await state.due(now + 7200, 10)) == {soon.id, later.id}
    await state.postpone(soon.id, now + 60)
    assert await state.due(now + 2, 10) == []
    await state.cancel(later.id, jobs.cancel(utcnow(), deadline_exceeded()))
    assert await state.due(now + 7200, 10) == [soon.id]


async def test_a_cancel_settles_the_reservation_in_the_step_that_ends_the_job(
    state: Any,
) -> None:
    hold = Reservation(state.keys.budget("demo", 86400, 1), 40_000, 1_000_000, 172800)
    job = make_job()
    job = replace(job, reserved=(hold.hold(),))
    await state.submit(job, reservation=hold)
    outcome = await state.cancel(job.id, cancel())
    assert outcome.ended[0].reserved_total == Decimal("0.04")  # kept on the job, settled
    assert await state.spent(hold.key) == 0
    assert (await state.get_job(job.id)).settled


async def test_requeued_stopped_job_is_handed_out_to_be_ended(state: Any) -> None:
    job = await state.submit(make_job())
    await state.claim("w1", 1)
    await state.cancel(job.id, cancel())
    await state.requeue(job.id)
    again = await state.claim("w2", 1)
    assert again is not None and again.id == job.id and again.stop
    ended = await state.finish(job.id, error=JobError("canceled", "x"))
    assert ended[0].status is JobStatus.CANCELED and ended[0].error == client_cancel()


async def test_a_vendor_job_is_recorded_on_an_active_job_only(state: Any) -> None:
    job = await state.submit(make_job())
    await state.claim("w1", 1)
    await state.patch(job.id, jobs.vendor_job_started(VendorJob("replicate", "pred-1")))
    assert (await state.get_job(job.id)).vendor_job == VendorJob("replicate", "pred-1")
    await state.finish(job.id, result=RESULT)
    await state.patch(job.id, jobs.vendor_job_started(VendorJob("replicate", "pred-2")))
    done = await state.get_job(job.id)
    assert done.vendor_job == VendorJob("replicate", "pred-1") and done.result == RESULT
