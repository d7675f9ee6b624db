"""The webhook outbox of `redis://`: a sorted set of job ids scored by when each is due
(`ig:outbox`), kept equal to the jobs by the shared `save` (see gateway/state/outbox.py)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from gateway.jobs import Job, WebhookState
from gateway.state.redis_scripts import PRELUDE

if TYPE_CHECKING:
    from gateway.state.redis import RedisState

# KEYS: the outbox. ARGV[4]: limit; [5]: lease (ms). Due events, each leased: its attempt
# counted, due again at the lease's end. Entries of jobs gone (expired) are dropped.
# -> job documents
CLAIM = (
    PRELUDE
    + """
local found = {}
local ids = redis.call('ZRANGE', KEYS[1], '-inf', now_ms(), 'BYSCORE', 'LIMIT', 0, ARGV[4])
for _, id in ipairs(ids) do
  local job = read(id)
  if job and type(job.webhook) == 'table' then
    job.webhook.attempts = job.webhook.attempts + 1
    job.webhook.next_attempt_ms = now_ms() + tonumber(ARGV[5])
    table.insert(found, save(job))
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return found
"""
)

# KEYS: job. ARGV[4]: the attempt count the caller's claim left; [5]: the new webhook state
# (JSON); [6]: due again in (ms), or '' for never. -> the document, or false when a later
# claim took the event over (or the job is gone)
RECORD = (
    PRELUDE
    + """
local doc = redis.call('GET', KEYS[1])
if not doc then return false end
local job = load(doc)
if type(job.webhook) ~= 'table' or job.webhook.attempts ~= tonumber(ARGV[4]) then
  return false
end
job.webhook = cjson.decode(ARGV[5])
if ARGV[6] == '' then
  job.webhook.next_attempt_ms = cjson.null
else
  job.webhook.next_attempt_ms = now_ms() + tonumber(ARGV[6])
end
return save(job)
"""
)


class RedisOutbox:
    def __init__(self, state: RedisState) -> None:
        self.state = state
        self._claim = state.client.register_script(CLAIM)
        self._record = state.client.register_script(RECORD)

    async def claim(self, limit: int, lease: float) -> list[Job]:
        state = self.state
        docs = await state.script(self._claim, [state.keys.outbox], limit, _ms(lease))
        return [_loads(doc) for doc in docs]

    async def record(
        self, job_id: str, attempts: int, webhook: WebhookState, retry_in: float | None
    ) -> Job | None:
        state = self.state
        encoded = json.dumps(webhook.to_json(), separators=(",", ":"))
        due = "" if retry_in is None else _ms(retry_in)
        doc = await state.script(self._record, [state.keys.job(job_id)], attempts, encoded, due)
        return _loads(doc) if doc else None


def _ms(seconds: float) -> int:
    return max(0, round(seconds * 1000))


def _loads(doc: bytes | str) -> Job:
    return Job.from_json(json.loads(doc))
