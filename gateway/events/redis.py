"""`redis://` job events: sharded pub/sub, one channel per job, one subscriber per process.

    ig:{ig}:events:<job id>   SPUBLISH "changed" for each state change that may be an ending
                              or a stop, "progress" for a start or an attempt
The state's scripts publish a job's start, attempts and endings themselves, in the step
that writes them (gateway/state/redis_scripts.py: no round trip of their own, and no window
in which a change is written but not yet told); whoever makes another change (a cancel, a
deferral, a preview) publishes it here.

Sharded pub/sub (Redis 7) on one Redis and on a cluster alike: a channel lives on the node
serving its slot, the state's slot (gateway/state/keys.py), so a change is published on the
node that wrote it and never broadcast to every node as a cluster's PUBLISH would be. On a
cluster redis-py's `ClusterPubSub` holds the subscription on the slot's master and moves it
after a failover (this listener asks it to when its connection drops).

Every watch in this process shares one subscriber connection: the first watch of a job
SSUBSCRIBEs its channel and waits for Redis to confirm it (so a change published after
`watch()` returns is heard). One listener task reads the connection and wakes the watches.
If the connection drops, every watch is woken (it reads the job again) and redis-py
resubscribes when it reconnects.

Subscribing costs a command per job, so commands are shared: the channels first watched in
one turn of the event loop go out in one SSUBSCRIBE, and a channel nobody watches any more
is unsubscribed `LINGER` seconds later, together with the others left meanwhile (one
SUNSUBSCRIBE; a watch opened again meanwhile keeps the subscription). Both go out under
one lock, and the unsubscribe leaves out, under it, every channel watched again: so a
subscribe is never overtaken by an older unsubscribe of its channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ConnectionError, RedisClusterException, RedisError, TimeoutError

from gateway.events.base import Registry, Watch
from gateway.state.keys import Keys
from gateway.state.redis_client import Client, close, connect, unavailable
from gateway.tasks import cancel_and_wait

log = logging.getLogger("imagegate.events")

PROGRESS = "progress"
CONFIRM_WAIT = 2.0  # past this a watch goes on unconfirmed: its timeout re-reads cover it
BACKOFF_MAX = 5.0
IDLE = 0.1  # a cluster subscriber with no channel returns at once: wait this long
# redis-py's cluster subscriber holds its node's lock for a whole poll, and a subscribe or
# an unsubscribe waits for it: a short poll keeps a watch's start and end that quick (a
# 1 s poll made every waited answer on a cluster about 1 s late).
CLUSTER_POLL = 0.02
# How long an unwatched channel stays subscribed, so that its SUNSUBSCRIBE goes out with
# the others of that time (a message on it meanwhile wakes nobody).
LINGER = 0.1
MAX_CHANNELS = 1000  # per SUNSUBSCRIBE


class RedisJobEvents:
    def __init__(self, client: Client, prefix: str = "ig", *, owned: bool = True) -> None:
        self.client = client
        self.owned = owned  # False: the state's client, closed by the state
        self.keys = Keys(prefix)
        self._head = self.keys.events("")
        self._pubsub = client.pubsub()
        self._registry = Registry()
        self._confirmed: dict[str, asyncio.Event] = {}
        self._listener: asyncio.Task[None] | None = None
        self._commands = asyncio.Lock()  # SSUBSCRIBE and SUNSUBSCRIBE go out in order
        self._joining: list[str] | None = None  # channels of the next SSUBSCRIBE
        self._joined: asyncio.Task[None] | None = None  # that SSUBSCRIBE, once sent
        self._leaving: set[str] = set()  # unwatched, still subscribed until `_leave`
        self._leaver: asyncio.Task[None] | None = None
        self._closing = False  # checked by the listener: a cancel alone can be swallowed

    @classmethod
    def from_url(cls, url: str) -> RedisJobEvents:
        return cls(connect(url))

    def channel(self, job_id: str) -> str:
        return self.keys.events(job_id)

    async def publish(self, job_ids: Iterable[str], *, progress: bool = False) -> None:
        channels = [self.channel(job_id) for job_id in job_ids]
        if not channels:
            return
        what = PROGRESS if progress else "changed"
        try:
            if len(channels) == 1:  # the usual case: one command costs less than a pipeline
                await self.client.spublish(channels[0], what)
                return
            async with self.client.pipeline(transaction=False) as pipe:
                for channel in channels:
                    pipe.spublish(channel, what)
                await pipe.execute()
        except (ConnectionError, TimeoutError, RedisClusterException) as exc:
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
            unwatched = self._registry.drop(watch)
            if unwatched and not watch.closed:
                self._leaving.update(self.channel(job_id) for job_id in unwatched)
                if self._leaver is None or self._leaver.done():
                    self._leaver = asyncio.create_task(self._leave(), name="job-events-leave")

    async def also(self, watch: Watch, job_id: str) -> None:
        channel = self.channel(job_id)
        if self._registry.add(job_id, watch):
            if channel in self._leaving:  # still subscribed: it just stays so
                self._leaving.discard(channel)
            else:
                self._confirmed[channel] = asyncio.Event()
                await self._join(channel)
            if self._listener is None or self._listener.done():
                self._listener = asyncio.create_task(self._listen(), name="job-events")
        confirmed = self._confirmed.get(channel)
        if confirmed is not None:
            # asyncio's timeout (the builtin TimeoutError), not redis-py's of the same name.
            with contextlib.suppress(asyncio.TimeoutError):
                async with asyncio.timeout(CONFIRM_WAIT):
                    await confirmed.wait()

    async def _join(self, channel: str) -> None:
        """SSUBSCRIBE `channel`, in one command with every channel asked for until the
        command's task runs (the watches started in this turn of the loop)."""
        if self._joining is None:
            self._joining = []
            self._joined = asyncio.create_task(self._send_join(), name="job-events-join")
            self._joined.add_done_callback(_retrieved)  # each joiner raises it, if any waits
        self._joining.append(channel)
        assert self._joined is not None
        await asyncio.shield(self._joined)  # one watcher leaving cancels nobody's subscribe

    async def _send_join(self) -> None:
        channels, self._joining = self._joining or [], None
        with unavailable():
            async with self._commands:
                if isinstance(self.client, RedisCluster):  # it routes by the slot map
                    await self.client.initialize()
                await self._pubsub.ssubscribe(*channels)

    async def _leave(self) -> None:
        """After `LINGER`, unsubscribe from the channels left meanwhile and not watched again."""
        await asyncio.sleep(LINGER)
        async with self._commands:
            watched = set(self._registry.job_ids)
            channels = [c for c in self._leaving if c.removeprefix(self._head) not in watched]
            self._leaving.clear()
            for channel in channels:
                self._confirmed.pop(channel, None)
            with contextlib.suppress(ConnectionError, TimeoutError):
                for start in range(0, len(channels), MAX_CHANNELS):
                    await self._pubsub.sunsubscribe(*channels[start : start + MAX_CHANNELS])

    async def aclose(self) -> None:
        self._registry.close_all()
        self._closing = True
        await cancel_and_wait(self._leaver)
        await cancel_and_wait(self._listener)
        with contextlib.suppress(ConnectionError, TimeoutError):
            await self._pubsub.aclose()
        if self.owned:
            await close(self.client)

    async def _listen(self) -> None:
        backoff = 0.1
        while not self._closing:
            try:
                message = await self._next_message()
                backoff = 0.1
            except (ConnectionError, TimeoutError, OSError, RedisClusterException) as exc:
                log.warning("job events connection lost (%s); retrying", type(exc).__name__)
                self._registry.notify_all()  # changes may be missed meanwhile: read again
                await asyncio.sleep(backoff)
                backoff = min(BACKOFF_MAX, backoff * 2)
                await self._follow_failover()
                continue
            if message is not None:
                self._dispatch(message)

    async def _next_message(self) -> dict[str, Any] | None:
        pubsub: Any = self._pubsub
        if not isinstance(self.client, RedisCluster):
            message: dict[str, Any] | None = await pubsub.get_message(timeout=1.0)
            return message
        if not pubsub.node_pubsub_mapping:  # nothing subscribed: it would return at once
            await asyncio.sleep(IDLE)
            return None
        sharded: dict[str, Any] | None = await pubsub.get_sharded_message(timeout=CLUSTER_POLL)
        return sharded

    async def _follow_failover(self) -> None:
        """On a cluster, re-read who serves each slot and move the subscriptions there
        (a failover promoted a replica: the old master's connection is gone)."""
        if not isinstance(self.client, RedisCluster):
            return
        pubsub: Any = self._pubsub
        try:
            await self.client.nodes_manager.initialize()
            await pubsub.reinitialize_shard_subscriptions()
        except (RedisError, RedisClusterException, OSError) as exc:
            log.warning("job events: cluster not reachable yet (%s)", type(exc).__name__)

    def _dispatch(self, message: dict[str, Any]) -> None:
        channel = message["channel"]
        channel = channel.decode() if isinstance(channel, bytes) else str(channel)
        if message["type"] == "ssubscribe":
            confirmed = self._confirmed.pop(channel, None)
            if confirmed is not None:
                confirmed.set()
        elif message["type"] == "smessage":
            job_id = channel.removeprefix(self._head)
            # Anything but "progress" (an older process's "changed" too) may be an ending.
            self._registry.notify(job_id, message["data"] in (PROGRESS, PROGRESS.encode()))


def _retrieved(task: asyncio.Task[None]) -> None:
    """Mark a shared command's failure as seen: its callers (if any still wait) raise it."""
    if not task.cancelled():
        task.exception()
