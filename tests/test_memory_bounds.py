"""memory:// keeps at most `state.max_finished_jobs` finished jobs (and cached results):
the oldest ending is dropped first, active jobs never."""

from __future__ import annotations

from collections.abc import Callable

from gateway.jobs import JobStatus
from gateway.settings import Settings
from gateway.state import state_from_settings
from gateway.state.memory import MemoryState
from tests.test_state_contract import ERROR, RESULT, make_job, run_to_success


async def test_the_oldest_finished_jobs_are_dropped_first() -> None:
    state = MemoryState(job_ttl=60, cache_ttl=60, max_finished=3)
    done = [make_job(f"prompt {i}") for i in range(5)]
    for job in done:
        await run_to_success(state, job)
    failed = make_job("failing")
    await state.submit(failed)
    assert (await state.claim("w1", 1)) is not None
    await state.finish(failed.id, error=ERROR)

    kept = [await state.get_job(job.id) for job in [*done, failed]]
    assert [job is not None for job in kept] == [False, False, False, True, True, True]
    assert kept[-1] is not None and kept[-1].status is JobStatus.FAILED


async def test_active_jobs_are_never_dropped() -> None:
    state = MemoryState(job_ttl=60, cache_ttl=60, max_finished=1)
    jobs = [make_job(f"job {i}") for i in range(4)]
    for job in jobs:
        await state.submit(job)
    running = await state.claim("w1", 1)  # jobs[0]
    for job in jobs[1:3]:
        assert (await state.claim("w1", 1)).id == job.id
        await state.finish(job.id, result=RESULT)
    born = await state.submit(make_job("job 2"))  # a cache hit: born finished
    assert born.cached

    assert running is not None and running.id == jobs[0].id
    assert await state.get_job(jobs[1].id) is None and await state.get_job(jobs[2].id) is None
    assert await state.get_job(born.id) == born
    assert (await state.get_job(jobs[0].id)).status is JobStatus.RUNNING
    assert (await state.get_job(jobs[3].id)).status is JobStatus.PENDING
    assert await state.count_active("demo") == 2


async def test_cached_results_are_bounded_too() -> None:
    state = MemoryState(job_ttl=60, cache_ttl=60, max_finished=2)
    for i in range(3):
        await run_to_success(state, make_job(f"cached {i}"))
    again_oldest = await state.submit(make_job("cached 0"))
    again_newest = await state.submit(make_job("cached 2"))
    assert again_oldest.status is JobStatus.PENDING and not again_oldest.cached
    assert again_newest.status is JobStatus.SUCCEEDED and again_newest.cached


def test_the_bound_comes_from_config(make_settings: Callable[..., Settings]) -> None:
    state = state_from_settings(make_settings(state={"max_finished_jobs": 7}))
    assert isinstance(state, MemoryState) and state.max_finished == 7
    default = state_from_settings(make_settings())
    assert isinstance(default, MemoryState) and default.max_finished == 50_000
