"""`redis://` usage records, shared by every gateway and worker process on one Redis.

    ig:{ig}:usage:tenants                 SET of tenants that have records
    ig:{ig}:usage:<tenant>:days           ZSET of the tenant's days (score: day ordinal)
    ig:{ig}:usage:<tenant>:<YYYY-MM-DD>   HASH of ["<model>", "<backend>", "<counter>"] -> int

Every counter is an integer (money in micro-dollars) added with HINCRBY inside one script
call per batch of ended jobs (atomic, like a MULTI, but one command to send and one reply
to read instead of seven per record; every key is in the state's slot, so it is one step
on a cluster too), so processes add exactly, never a lost update and never a float.
Records are kept `RETENTION_DAYS` after their last write.

The adding is also a Lua function (`ADD_FUNCTION`) that the state's submit script runs: a
job born from the result cache records what it saved in the step that stores it
(gateway/state/redis.py), with the keys and arguments `packed` builds.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date
from functools import lru_cache

from gateway.state.keys import Keys
from gateway.state.redis_client import Client, close, connect, unavailable
from gateway.usage.base import UsageDelta, UsageKey, UsageRecord, ordered

RETENTION_DAYS = 400

# add_usage(keys, k, args, at): KEYS from `k` are the tenants set, then per delta its day
# record and its days index; ARGV from `at`: ttl seconds, retention days, the number of
# deltas, then per delta: tenant, day (ISO), day ordinal, the number of counters, and that
# many (field, amount) pairs. Returns the index of the first argument after them.
ADD_FUNCTION = """
local function add_usage(keys, k, args, at)
  local tenants = keys[k]
  local ttl, retention, deltas = tonumber(args[at]), tonumber(args[at + 1]), tonumber(args[at + 2])
  at = at + 3
  for d = 1, deltas do
    local record, days = keys[k + 2 * d - 1], keys[k + 2 * d]
    local tenant, day = args[at], args[at + 1]
    local ordinal, n = tonumber(args[at + 2]), tonumber(args[at + 3])
    at = at + 4
    for _ = 1, n do
      redis.call('HINCRBY', record, args[at], args[at + 1])
      at = at + 2
    end
    redis.call('EXPIRE', record, ttl)
    redis.call('ZADD', days, ordinal, day)
    redis.call('ZREMRANGEBYSCORE', days, '-inf', '(' .. (ordinal - retention))
    redis.call('EXPIRE', days, ttl)
    redis.call('SADD', tenants, tenant)
  end
  return at
end
"""

ADD = (
    ADD_FUNCTION
    + """
add_usage(KEYS, 1, ARGV, 1)
return 1
"""
)


@lru_cache(maxsize=1024)
def _field(model: str, backend: str, counter: str) -> str:
    """A record's hash field: the same few for every write of a deployment."""
    return json.dumps([model, backend, counter])


class RedisUsage:
    def __init__(self, client: Client, prefix: str = "ig", *, owned: bool = True) -> None:
        self.client = client
        self.owned = owned  # False: the state's client, closed by the state
        self.keys = Keys(prefix)
        self._add = client.register_script(ADD)

    @classmethod
    def from_url(cls, url: str) -> RedisUsage:
        """Commands time out after 1 s and are retried once, like the state's client."""
        return cls(connect(url))

    @property
    def tenants_key(self) -> str:
        return self.keys.usage("tenants")

    def days_key(self, tenant: str) -> str:
        return self.keys.usage(f"{tenant}:days")

    def day_key(self, tenant: str, day: date) -> str:
        return self.keys.usage(f"{tenant}:{day.isoformat()}")

    def packed(self, deltas: list[UsageDelta]) -> tuple[list[str], list[str | int]]:
        """The keys and arguments of `add_usage` for `deltas` (see `ADD_FUNCTION`)."""
        keys = [self.tenants_key]
        args: list[str | int] = [RETENTION_DAYS * 86400, RETENTION_DAYS, len(deltas)]
        for delta in deltas:
            key = delta.key
            keys += [self.day_key(key.tenant, key.day), self.days_key(key.tenant)]
            counts = [(name, amount) for name, amount in delta.counts.items() if amount]
            args += [key.tenant, key.day.isoformat(), key.day.toordinal(), len(counts)]
            for name, amount in counts:
                args += [_field(key.model, key.backend, name), amount]
        return keys, args

    async def add(self, deltas: list[UsageDelta]) -> None:
        if not deltas:
            return
        keys, args = self.packed(deltas)
        with unavailable():
            await self._add(keys=keys, args=args)

    async def records(self, tenant: str | None, since: date) -> list[UsageRecord]:
        with unavailable():
            if tenant is None:
                members: set[bytes] = await self.client.smembers(self.tenants_key)  # type: ignore[assignment, misc]
                tenants = sorted(member.decode() for member in members)
            else:
                tenants = [tenant]
            pipe = self.client.pipeline(transaction=False)
            for name in tenants:
                pipe.zrangebyscore(self.days_key(name), since.toordinal(), "+inf")
            days = await pipe.execute()
            wanted = [
                (name, date.fromisoformat(day.decode()))
                for name, found in zip(tenants, days, strict=True)
                for day in found
            ]
            pipe = self.client.pipeline(transaction=False)
            for name, day in wanted:
                pipe.hgetall(self.day_key(name, day))
            hashes = await pipe.execute()
        records = []
        for (name, day), fields in zip(wanted, hashes, strict=True):
            counts: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
            for field, value in fields.items():
                model, backend, counter = json.loads(field)
                counts[(model, backend)][counter] = int(value)
            records += [
                UsageRecord.of(UsageKey(day, name, model, backend), found)
                for (model, backend), found in counts.items()
            ]
        return ordered(records)

    async def aclose(self) -> None:
        if self.owned:
            await close(self.client)
