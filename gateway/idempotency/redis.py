"""`redis://` idempotency records, shared by every gateway process on one Redis.

    ig:idem:{<tenant>}:<sha256 of the key>   the record: pending (lease) or completed

Every step touches one record, so records spread over a cluster by tenant.

`begin` is one `SET NX PX GET` (Redis 7+): it takes the key or returns what holds it, in
one atomic round trip. `renew`, `complete` and `release` are compare-and-act scripts
keyed by the exact pending record, so only the lease's owner changes it.
"""

from __future__ import annotations

import hashlib
from typing import Any

from gateway.idempotency.base import Answer, Claim, Lease, completed_doc, judge, pending_doc
from gateway.state.keys import Keys
from gateway.state.redis_client import Client, close, connect, unavailable

# KEYS[1] the record; ARGV[1] the lease's pending record, ARGV[2] the new value or ms.
RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
COMPLETE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
"""
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


class RedisIdempotency:
    def __init__(self, client: Client, prefix: str = "ig") -> None:
        self.client = client
        self.keys = Keys(prefix)
        self._renew = client.register_script(RENEW)
        self._complete = client.register_script(COMPLETE)
        self._release = client.register_script(RELEASE)

    @classmethod
    def from_url(cls, url: str) -> RedisIdempotency:
        """Commands time out after 1 s and are retried once, like the state's client."""
        return cls(connect(url))

    def record_key(self, scope: str, key: str) -> str:
        digest = hashlib.sha256(key.encode()).hexdigest()
        return self.keys.idempotency(scope, digest)

    async def begin(self, scope: str, key: str, fingerprint: str, *, lease: float) -> Claim:
        doc = pending_doc(fingerprint)
        with unavailable():
            existing: Any = await self.client.set(
                self.record_key(scope, key), doc, nx=True, px=_ms(lease), get=True
            )
        if existing is None:
            return Lease(doc)
        return judge(existing.decode(), fingerprint)

    async def renew(self, scope: str, key: str, lease: Lease, seconds: float) -> None:
        with unavailable():
            await self._renew(keys=[self.record_key(scope, key)], args=[lease.doc, _ms(seconds)])

    async def complete(
        self, scope: str, key: str, lease: Lease, fingerprint: str, answer: Answer, ttl: float
    ) -> None:
        args: list[str | int] = [lease.doc, completed_doc(fingerprint, answer), _ms(ttl)]
        with unavailable():
            await self._complete(keys=[self.record_key(scope, key)], args=args)

    async def release(self, scope: str, key: str, lease: Lease) -> None:
        with unavailable():
            await self._release(keys=[self.record_key(scope, key)], args=[lease.doc])

    async def aclose(self) -> None:
        await close(self.client)
