"""`redis://` previews, shared by every process on one Redis (or cluster).

    ig:previews:{<job id>}   a list of Preview JSON documents, expiring `TTL` after the last

Each job's list is its own slot (gateway/state/keys.py): no step touches two.
"""

from __future__ import annotations

from gateway.previews.base import TTL, Preview
from gateway.state.keys import Keys
from gateway.state.redis_client import Client, close, connect, unavailable


class RedisPreviews:
    def __init__(self, client: Client, prefix: str = "ig") -> None:
        self.client = client
        self.keys = Keys(prefix)

    @classmethod
    def from_url(cls, url: str) -> RedisPreviews:
        return cls(connect(url))

    def key(self, job_id: str) -> str:
        return self.keys.previews(job_id)

    async def add(self, job_id: str, preview: Preview) -> None:
        key = self.key(job_id)
        with unavailable():
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.rpush(key, preview.to_json())
                pipe.expire(key, int(TTL))
                await pipe.execute()

    async def since(self, job_id: str, start: int) -> list[Preview]:
        with unavailable():
            found = await self.client.lrange(self.key(job_id), start, -1)
        return [Preview.from_json(item) for item in found]

    async def aclose(self) -> None:
        await close(self.client)
