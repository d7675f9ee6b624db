"""`concurrency_scope = "global"`: a backend's `max_concurrency` counted across every process.

A semaphore of leases on the state's Redis: `ig:capacity:{<backend>}` is a ZSET of lease
tokens scored by their expiry (ms, Redis's clock). Taking a slot prunes expired leases and
adds one only while fewer than the cap remain, in one script, so the cap holds under any
interleaving of processes. The holder renews its lease every third of
`concurrency_lease` while its call runs and removes it when the call ends; a process that
dies (SIGKILL, a lost machine) stops renewing, and its slot comes back once the lease
expires. Renewing a lease that has expired but was not pruned yet is safe: a taker always
prunes first, so nobody took its place.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager

from redis.exceptions import RedisError

from gateway.capacity import CapacityFull
from gateway.state.base import StateUnavailable
from gateway.state.keys import Keys
from gateway.state.redis_client import Client, close, connect

log = logging.getLogger("imagegate.capacity")

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS[1]: the backend's leases. ARGV: cap, lease (ms), token. -> 1 taken | 0 full
TAKE = (
    _NOW
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
return 1
"""
)

# KEYS[1]: the backend's leases. ARGV: lease (ms), token. -> 1 renewed | 0 lost
RENEW = (
    _NOW
    + """
if not redis.call('ZSCORE', KEYS[1], ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[1]), ARGV[2])
return 1
"""
)


@contextmanager
def _unavailable() -> Iterator[None]:
    try:
        yield
    except RedisError as exc:
        raise StateUnavailable(f"redis is unavailable ({type(exc).__name__})") from exc


class RedisCapacity:
    """Global caps (`caps`: backend -> slots) with leases (`leases`: backend -> seconds)."""

    def __init__(
        self,
        client: Client,
        caps: Mapping[str, int],
        leases: Mapping[str, float],
        keys: Keys | None = None,
    ) -> None:
        self.client = client
        self.caps = dict(caps)
        self.leases = dict(leases)
        self.keys = keys or Keys()
        self.owner = f"{socket.gethostname()}-{os.getpid()}"  # in tokens, for operators
        self._take = client.register_script(TAKE)
        self._renew = client.register_script(RENEW)

    @classmethod
    def from_url(
        cls, url: str, caps: Mapping[str, int], leases: Mapping[str, float]
    ) -> RedisCapacity:
        client = connect(url)
        return cls(client, caps, leases)

    @asynccontextmanager
    async def slot(self, backend: str) -> AsyncIterator[None]:
        cap = self.caps.get(backend)
        if cap is None:
            yield
            return
        key = self.keys.capacity(backend)
        lease_ms = max(1, round(self.leases[backend] * 1000))
        token = f"{self.owner}-{uuid.uuid4().hex[:12]}"
        with _unavailable():
            taken = await self._take(keys=[key], args=[cap, lease_ms, token])
        if not taken:
            raise CapacityFull(backend)
        done = asyncio.Event()
        renewing = asyncio.create_task(self._keep(backend, key, token, lease_ms, done))
        try:
            yield
        finally:
            # Told to stop, not cancelled: a cancel landing in a Redis call can come back
            # as a timeout error, which the loop would take for a failed renewal.
            done.set()
            with contextlib.suppress(Exception):  # a renewal's failure was logged
                await renewing
            await self._release(backend, key, token)

    async def _keep(
        self, backend: str, key: str, token: str, lease_ms: int, done: asyncio.Event
    ) -> None:
        """Renew the lease while the call runs (a third of the lease apart)."""
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(lease_ms / 3000):
                    await done.wait()
            if done.is_set():
                return
            try:
                renewed = await self._renew(keys=[key], args=[lease_ms, token])
            except RedisError as exc:
                log.warning("renewing a %s slot failed: %s", backend, type(exc).__name__)
                continue
            if not renewed:
                # The lease ran out (Redis unreachable, or this process stalled for longer
                # than the lease): another process may hold the slot now.
                log.error("lost a %s concurrency lease while its call ran", backend)
                return

    async def _release(self, backend: str, key: str, token: str) -> None:
        try:  # shielded: a worker cancelled at shutdown still gives its slot back
            await asyncio.shield(self.client.zrem(key, token))
        except RedisError as exc:  # not given back: the lease expires on its own
            log.warning("releasing a %s slot failed: %s", backend, type(exc).__name__)

    async def aclose(self) -> None:
        await close(self.client)
