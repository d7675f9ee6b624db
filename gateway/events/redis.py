"""`redis://` job events: Redis pub/sub, one channel per job, one connection per process.

    ig:events:{<job id>}   PUBLISH "changed" after each state change the lifecycle wrote
                           ("progress" for one that is neither an ending nor a stop)

Every watch in this process shares one subscriber connection: the first watch of a job
SUBSCRIBEs its channel and waits for Redis to confirm it (so a change published after
`watch()` returns is heard), the last one to leave UNSUBSCRIBEs. One listener task reads
the connection and wakes the watches. If the connection drops, every watch is woken (it
reads the job again) and redis-py resubscribes when it reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ConnectionError, TimeoutError

from gateway.events.base import Registry, Watch
from gateway.state.redis_client import connect, unavailable
from gateway.tasks import cancel_and_wait

log = logging.getLogger("imagegate.events")

PROGRESS = "progress"
CONFIRM_WAIT = 2.0  # past this a watch goes on unconfirmed: its timeout re-reads cover it
BACKOFF_MAX = 5.0


class RedisJobEvents:
    def __init__(self, client: Redis, prefix: str = "ig") -> None:
        self.client = client
        self.prefix = prefix
        self._pubsub = client.pubsub()
        self._registry = Registry()
        self._confirmed: dict[str, asyncio.Event] = {}
        self._listener: asyncio.Task[None] | None = None
        self._closing = False  # checked by the listener: a cancel alone can be swallowed

    @classmethod
    def from_url(cls, url: str) -> RedisJobEvents:
        return cls(connect(url))

    def channel(self, job_id: str) -> str:
        return f"{self.prefix}:events:{{{job_id}}}"

    async def publish(self, job_ids: Iterable[str], *, progress: bool = False) -> None:
        channels = [self.channel(job_id) for job_id in job_ids]
        if not channels:
            return
        what = PROGRESS if progress else "changed"
        try:
            if len(channels) == 1:  # the usual case: one command costs less than a pipeline
                await self.client.publish(channels[0], what)
                return
            async with self.client.pipeline(transaction=False) as pipe:
                for channel in channels:
                    pipe.publish(channel, what)
                await pipe.execute()
        except (ConnectionError, TimeoutError) as exc:
            # Watchers re-read on their own timeout: a lost notification only delays them.
            log.warning("job change not published (%s)", type(exc).__name__)

    @asynccontextmanager
    async def watch(self, *job_ids: str) -> AsyncIterator[Watch]:
        watch = Watch()
        try:
            for job_id in job_ids:
                await self.also(watch, job_id)
            yield watch
        finally:
            unwatched = [self.channel(job_id) for job_id in self._registry.drop(watch)]
            for channel in unwatched:
                self._confirmed.pop(channel, None)
            if unwatched and not watch.closed:
                with contextlib.suppress(ConnectionError, TimeoutError):
                    await self._pubsub.unsubscribe(*unwatched)

    async def also(self, watch: Watch, job_id: str) -> None:
        channel = self.channel(job_id)
        if self._registry.add(job_id, watch):
            self._confirmed[channel] = asyncio.Event()
            with unavailable():
                await self._pubsub.subscribe(channel)
            if self._listener is None or self._listener.done():
                self._listener = asyncio.create_task(self._listen(), name="job-events")
        confirmed = self._confirmed.get(channel)
        if confirmed is not None:
            # asyncio's timeout (the builtin TimeoutError), not redis-py's of the same name.
            with contextlib.suppress(asyncio.TimeoutError):
                async with asyncio.timeout(CONFIRM_WAIT):
                    await confirmed.wait()

    async def aclose(self) -> None:
        self._registry.close_all()
        self._closing = True
        await cancel_and_wait(self._listener)
        with contextlib.suppress(ConnectionError, TimeoutError):
            await self._pubsub.aclose()
        await self.client.aclose()

    async def _listen(self) -> None:
        backoff = 0.1
        while not self._closing:
            try:
                message = await self._pubsub.get_message(timeout=1.0)
                backoff = 0.1
            except (ConnectionError, TimeoutError, OSError) as exc:
                log.warning("job events connection lost (%s); retrying", type(exc).__name__)
                self._registry.notify_all()  # changes may be missed meanwhile: read again
                await asyncio.sleep(backoff)
                backoff = min(BACKOFF_MAX, backoff * 2)
                continue
            if message is not None:
                self._dispatch(message)

    def _dispatch(self, message: dict[str, Any]) -> None:
        channel = message["channel"]
        channel = channel.decode() if isinstance(channel, bytes) else str(channel)
        if message["type"] == "subscribe":
            confirmed = self._confirmed.pop(channel, None)
            if confirmed is not None:
                confirmed.set()
        elif message["type"] == "message":
            job_id = channel.removeprefix(f"{self.prefix}:events:").strip("{}")
            # Anything but "progress" (an older process's "changed" too) may be an ending.
            self._registry.notify(job_id, message["data"] in (PROGRESS, PROGRESS.encode()))
