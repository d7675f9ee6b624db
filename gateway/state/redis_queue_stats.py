"""The queue's depth and the age of its oldest waiting entry, read from the Redis stream.

The stream holds exactly the entries not yet finished (`finish` and `requeue` XACK and XDEL
theirs), so the entries waiting for a worker are its length minus those handed out and not
acknowledged (the group's pending count); the oldest waiting one is the first entry after
the group's last-delivered id, and its id carries the milliseconds at which it was queued.
One script (one round trip, on the stream's node, so its clock is the one that stamped the
entries: a cluster client may not pipeline TIME), each step O(1) or O(consumer groups).
"""

from __future__ import annotations

from typing import Any

from gateway.state.base import QueueStats
from gateway.state.redis_client import Client

# KEYS[1]: the stream. ARGV[1]: the consumer group. -> {waiting, ms since the oldest
# waiting entry was queued}
QUEUE_STATS = """
if redis.call('EXISTS', KEYS[1]) == 0 then return {0, 0} end
local length, handed_out, after = redis.call('XLEN', KEYS[1]), 0, '-'
for _, group in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local info = {}
  for i = 1, #group, 2 do info[group[i]] = group[i + 1] end
  -- Before the first claim creates the group, every entry waits.
  if info['name'] == ARGV[1] then
    handed_out, after = info['pending'], '(' .. info['last-delivered-id']
  end
end
local depth = math.max(0, length - handed_out)
if depth == 0 then return {0, 0} end
local first = redis.call('XRANGE', KEYS[1], after, '+', 'COUNT', 1)
if #first == 0 then return {depth, 0} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local queued = tonumber(string.match(first[1][1], '^(%d+)'))
return {depth, math.max(0, now - queued)}
"""


async def read_queue_stats(client: Client, stream: str, group: str) -> QueueStats:
    reply: Any = await client.eval(QUEUE_STATS, 1, stream, group)
    depth, age_ms = reply
    return QueueStats(int(depth), int(age_ms) / 1000)
