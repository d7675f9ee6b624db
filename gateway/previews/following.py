"""Follow a job for a stream: each preview as the worker stores it, then the job as it ended.

Watches the job (and the execution it follows) before each read, like `wait_until_ended`,
so neither a preview nor the ending slips between a read and the wait. Previews are read
after the job on every round, so those stored before the job ended are all yielded before
it. Stops at the end, or at `timeout` with the job as it is.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

from gateway.events import JobEvents
from gateway.jobs import Job
from gateway.previews.base import Preview, PreviewStore
from gateway.state.base import StateStore
from gateway.storage import ImageStore

REREAD_EVERY = 5.0


@dataclass(frozen=True)
class PreviewImage:
    preview: Preview
    data: bytes


async def follow_previews(
    state: StateStore,
    events: JobEvents,
    previews: PreviewStore,
    images: ImageStore,
    job: Job,
    timeout: float,
) -> AsyncIterator[PreviewImage | Job]:
    """Yields `PreviewImage`s, then the job once (ended, or as it is at `timeout`)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    sent = 0
    current: Job | None = job
    async with events.watch(job.id) as watch:
        while True:
            current = await state.get_job(job.id) or current
            assert current is not None
            execution = current.leader_id or current.id
            if execution not in watch.job_ids:
                await events.also(watch, execution)
            for preview in await previews.since(execution, sent):
                sent += 1
                found = await images.get(preview.key)
                if found is not None:
                    yield PreviewImage(preview, found.data)
            remaining = deadline - loop.time()
            if current.status.terminal or remaining <= 0 or watch.closed:
                break
            await watch.changed(min(remaining, REREAD_EVERY))
    yield current
