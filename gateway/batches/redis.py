"""`redis://` batch records: `ig:batch:{<batch id>}`, JSON, living as long as its jobs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError, ReadOnlyError, TimeoutError

from gateway.batches.base import Batch
from gateway.state.base import StateUnavailable


@contextmanager
def _unavailable() -> Iterator[None]:
    try:
        yield
    except (ConnectionError, TimeoutError, ReadOnlyError) as exc:
        raise StateUnavailable(f"redis is unavailable ({type(exc).__name__})") from exc


class RedisBatches:
    def __init__(self, client: Redis, prefix: str = "ig") -> None:
        self.client = client
        self.prefix = prefix

    @classmethod
    def from_url(cls, url: str) -> RedisBatches:
        retry = Retry(ExponentialBackoff(cap=0.2, base=0.05), retries=1)
        return cls(Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0, retry=retry))

    def batch_key(self, batch_id: str) -> str:
        return f"{self.prefix}:batch:{{{batch_id}}}"

    async def put(self, batch: Batch, ttl: float) -> None:
        with _unavailable():
            await self.client.set(self.batch_key(batch.id), batch.to_json(), px=round(ttl * 1000))

    async def get(self, batch_id: str) -> Batch | None:
        with _unavailable():
            doc = await self.client.get(self.batch_key(batch_id))
        return None if doc is None else Batch.from_json(doc)

    async def aclose(self) -> None:
        await self.client.aclose()
