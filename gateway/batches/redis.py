"""`redis://` batch records: `ig:batch:{<batch id>}` (its own slot), JSON, living as long
as its jobs."""

from __future__ import annotations

from gateway.batches.base import Batch
from gateway.state.keys import Keys
from gateway.state.redis_client import Client, close, connect, unavailable


class RedisBatches:
    def __init__(self, client: Client, prefix: str = "ig") -> None:
        self.client = client
        self.keys = Keys(prefix)

    @classmethod
    def from_url(cls, url: str) -> RedisBatches:
        return cls(connect(url))

    def batch_key(self, batch_id: str) -> str:
        return self.keys.batch(batch_id)

    async def put(self, batch: Batch, ttl: float) -> None:
        with unavailable():
            await self.client.set(self.batch_key(batch.id), batch.to_json(), px=round(ttl * 1000))

    async def get(self, batch_id: str) -> Batch | None:
        with unavailable():
            doc = await self.client.get(self.batch_key(batch_id))
        return None if doc is None else Batch.from_json(doc)

    async def aclose(self) -> None:
        await close(self.client)
