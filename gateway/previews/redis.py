"""`redis://` previews, shared by every process on one Redis.

ig:previews:{<job id>}   a list of Preview JSON documents, expiring `TTL` after the last
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError, TimeoutError

from gateway.previews.base import TTL, Preview
from gateway.state.base import StateUnavailable


@contextmanager
def _unavailable() -> Iterator[None]:
    try:
        yield
    except (ConnectionError, TimeoutError) as exc:
        raise StateUnavailable(f"redis is unavailable ({type(exc).__name__})") from exc


class RedisPreviews:
    def __init__(self, client: Redis, prefix: str = "ig") -> None:
        self.client = client
        self.prefix = prefix

    @classmethod
    def from_url(cls, url: str) -> RedisPreviews:
        retry = Retry(ExponentialBackoff(cap=0.2, base=0.05), retries=1)
        return cls(Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0, retry=retry))

    def key(self, job_id: str) -> str:
        return f"{self.prefix}:previews:{{{job_id}}}"

    async def add(self, job_id: str, preview: Preview) -> None:
        key = self.key(job_id)
        with _unavailable():
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.rpush(key, preview.to_json())
                pipe.expire(key, int(TTL))
                await pipe.execute()

    async def since(self, job_id: str, start: int) -> list[Preview]:
        with _unavailable():
            found = await self.client.lrange(self.key(job_id), start, -1)
        return [Preview.from_json(item) for item in found]

    async def aclose(self) -> None:
        await self.client.aclose()
