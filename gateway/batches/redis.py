"""`redis://` batch records: `ig:batch:{<batch id>}`, JSON, living as long as its jobs."""

from __future__ import annotations

from redis.asyncio import Redis

from gateway.batches.base import Batch
from gateway.state.redis_client import connect, unavailable


class RedisBatches:
    def __init__(self, client: Redis, prefix: str = "ig") -> None:
        self.client = client
        self.prefix = prefix

    @classmethod
    def from_url(cls, url: str) -> RedisBatches:
        return cls(connect(url))

    def batch_key(self, batch_id: str) -> str:
        return f"{self.prefix}:batch:{{{batch_id}}}"

    async def put(self, batch: Batch, ttl: float) -> None:
        with unavailable():
            await self.client.set(self.batch_key(batch.id), batch.to_json(), px=round(ttl * 1000))

    async def get(self, batch_id: str) -> Batch | None:
        with unavailable():
            doc = await self.client.get(self.batch_key(batch_id))
        return None if doc is None else Batch.from_json(doc)

    async def aclose(self) -> None:
        await self.client.aclose()
