"""The queue's depth and the age of its oldest waiting entry, read from the Redis stream.

The stream holds exactly the entries not yet finished (`finish` and `requeue` XACK and XDEL
theirs), so the entries waiting for a worker are its length minus those handed out and not
acknowledged (the group's pending count); the oldest waiting one is the first entry after
the group's last-delivered id, and its id carries the milliseconds at which it was queued.
Two round trips (XLEN, XPENDING, XINFO GROUPS and TIME together, then one XRANGE), each
O(1) or O(consumers).
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from gateway.state.base import QueueStats


def _field(info: dict[Any, Any], name: str) -> Any:
    return info.get(name, info.get(name.encode()))


async def read_queue_stats(client: Redis, stream: str, group: str) -> QueueStats:
    async with client.pipeline(transaction=False) as pipe:
        pipe.xlen(stream)
        pipe.xpending(stream, group)
        pipe.xinfo_groups(stream)
        pipe.time()
        length, pending, groups, (seconds, micros) = await pipe.execute(raise_on_error=False)
    if isinstance(length, Exception) or isinstance(groups, Exception):  # no stream yet
        return QueueStats(0, 0.0)
    handed_out = 0 if isinstance(pending, Exception) else int(pending["pending"])
    depth = max(0, int(length) - handed_out)
    if depth == 0:
        return QueueStats(0, 0.0)
    ours = [info for info in groups if _decoded(_field(info, "name")) == group]
    # Before the first claim creates the group, every entry waits.
    after = f"({_decoded(_field(ours[0], 'last-delivered-id'))}" if ours else "-"
    first = await client.xrange(stream, min=after, count=1)
    if not first:
        return QueueStats(depth, 0.0)
    queued_ms = int(_decoded(first[0][0]).split("-")[0])
    now_ms = int(seconds) * 1000 + int(micros) // 1000
    return QueueStats(depth, max(0.0, (now_ms - queued_ms) / 1000))


def _decoded(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
