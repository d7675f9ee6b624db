"""`cancel_and_wait` stops a task even when one cancel is swallowed on the way (as
redis-py 8.x does with a cancel that lands while a command is in flight)."""

from __future__ import annotations

import asyncio

from gateway.tasks import cancel_and_wait


async def test_a_task_that_swallows_a_cancel_is_stopped_all_the_same() -> None:
    swallowed: list[bool] = []

    async def loop() -> None:
        while True:
            try:
                await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                if swallowed:
                    raise
                swallowed.append(True)  # the first cancel is lost, the loop runs on

    task = asyncio.create_task(loop())
    await asyncio.sleep(0)
    async with asyncio.timeout(5):
        await cancel_and_wait(task)
    assert task.cancelled() and swallowed == [True]


async def test_failed_finished_and_absent_tasks_are_waited_without_raising() -> None:
    async def fail() -> None:
        raise RuntimeError("already logged by its own loop")

    failed = asyncio.create_task(fail())
    done = asyncio.create_task(asyncio.sleep(0))
    await asyncio.sleep(0.01)
    await cancel_and_wait(failed, done, None)
    assert failed.done() and done.done()
