"""Lua scripts of the `redis://` state: each method's multi-key update as one atomic step.

The scripts decide no status: every status change arrives from Python (`gateway.jobs`) as a
change `{"expected": [statuses], "set": {field: JSON}, "incr": {field: n}}`, applied only to
a job whose status is expected (compare-and-set). Every script starts with `PRELUDE`, which
reads the common arguments `ARGV[1..3] = context, now, job_ttl_ms`: the context (JSON, one
per store) holds the key templates of `keys.py` for names only Redis can know (a leader's
followers), the statuses that count as active, the consumer group and the array members of
a job. Script-specific arguments follow from `ARGV[4]`; keys known up front come in KEYS.
Timestamps written into jobs come from Python; expiry scores and deadlines are compared
with Redis `TIME`, the one clock all processes share.

Job documents are `Job.to_json` with `"spec"` as the last member. The scripts decode and
rewrite only the part before it and keep the spec byte for byte: it holds the user's text
and 64-bit seeds, which Lua's cjson would round to 14 digits.
"""

from __future__ import annotations

from gateway.usage.redis import ADD_FUNCTION

PRELUDE = """
local ctx = cjson.decode(ARGV[1])
local now, ttl = ARGV[2], ARGV[3]
local ACTIVE = {}
for _, status in ipairs(ctx.active) do ACTIVE[status] = true end

local function named(kind, id) return ctx.keys[kind][1] .. id .. ctx.keys[kind][2] end

-- A JSON member that holds a value (cjson decodes null as cjson.null, not nil).
local function present(value) return value ~= nil and value ~= cjson.null and value ~= false end

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Tell the job's watchers, in the step that wrote the change (gateway/events/redis.py):
-- 'progress' for a start or an attempt, 'changed' for anything that may be an ending.
local function announce(id, what) redis.call('SPUBLISH', named('events', id), what) end

local function prepared(change)
  local expected = {}
  for _, status in ipairs(change.expected) do expected[status] = true end
  change.expected = expected
  return change
end

local function decode_change(json) return prepared(cjson.decode(json)) end

-- Compare-and-set: write the change's fields only when the job's status is expected.
local function apply(job, change)
  if not change.expected[job.status] then return false end
  for name, value in pairs(change.set) do job[name] = value end
  for name, n in pairs(change.incr) do job[name] = job[name] + n end
  -- An ending makes the job's webhook event due in this same step (the outbox).
  if change.outbox and type(job.webhook) == 'table' then job.webhook.next_attempt_ms = now_ms() end
  return true
end

local specs = {}  -- decoded job table -> its verbatim ',"spec":{...}}' tail

local function load(doc)
  local at = string.find(doc, ',"spec":{', 1, true)
  local job = cjson.decode(string.sub(doc, 1, at - 1) .. '}')
  specs[job] = string.sub(doc, at)
  return job
end

local function read(id)
  local doc = redis.call('GET', named('job', id))
  if doc then return load(doc) end
  return nil
end

local function dump(job)
  local lists, body = {}, nil
  for _, name in ipairs(ctx.lists) do
    lists[name] = job[name]
    job[name] = nil
  end
  body = string.sub(cjson.encode(job), 1, -2)
  for _, name in ipairs(ctx.lists) do
    local items = lists[name] or {}
    job[name] = items
    local encoded = '[]'  -- cjson writes an empty table as {}
    if #items > 0 then encoded = cjson.encode(items) end
    body = body .. ',"' .. name .. '":' .. encoded
  end
  return body .. specs[job]
end

local function micros(usd) return math.floor(tonumber(usd) * 1000000 + 0.5) end

-- Settle an ended job's money, once: what it reserved and was not charged goes back
-- (newest reservation first); what its vendor's usage billed above them is added. The
-- counters then hold exactly what the job was charged (gateway/money/settle.py).
local function settle(job)
  if ACTIVE[job.status] or job.settled == true or #job.reserved == 0 then return end
  local charged, held = 0, 0
  for _, attempt in ipairs(job.attempts) do charged = charged + micros(attempt.cost) end
  for _, hold in ipairs(job.reserved) do held = held + micros(hold.amount) end
  local holds = job.reserved
  if charged > held then
    local key = holds[#holds].key
    if redis.call('EXISTS', key) == 1 then redis.call('INCRBY', key, charged - held) end
  end
  local remaining = held - charged
  for i = #holds, 1, -1 do
    local take = math.min(remaining, micros(holds[i].amount))
    if take > 0 and redis.call('EXISTS', holds[i].key) == 1 then
      redis.call('DECRBY', holds[i].key, take)
    end
    if take > 0 then remaining = remaining - take end
  end
  job.settled = true
end

-- Write a job for job_ttl; keep its tenant's set of active jobs exact; settle its money
-- in the step that ends it.
local function save(job)
  settle(job)
  local doc = dump(job)
  redis.call('SET', named('job', job.id), doc, 'PX', ttl)
  redis.call('PEXPIRE', named('followers', job.id), ttl)
  redis.call('PEXPIRE', named('entry', job.id), ttl)
  local active = named('active', job.tenant)
  if ACTIVE[job.status] then
    redis.call('ZADD', active, string.format('%.0f', now_ms() + tonumber(ttl)), job.id)
  else
    redis.call('ZREM', active, job.id)
    if present(job.deadline) then redis.call('ZREM', ctx.deadlines, job.id) end
    -- A job that ends while deferred (canceled, a deadline) leaves the deferred set now.
    if present(job.resume) then redis.call('ZREM', ctx.deferred, job.id) end
  end
  if type(job.webhook) == 'table' then  -- the outbox index follows the webhook's due time
    local due = job.webhook.next_attempt_ms
    if type(due) == 'number' then
      redis.call('ZADD', ctx.outbox, string.format('%.0f', due), job.id)
    else
      redis.call('ZREM', ctx.outbox, job.id)
    end
  end
  return doc
end

local function followers(id)
  local found = {}
  for _, follower_id in ipairs(redis.call('LRANGE', named('followers', id), 0, -1)) do
    local follower = read(follower_id)
    if follower then table.insert(found, follower) end
  end
  return found
end

-- Apply a change to each follower of an execution; the documents of those it changed
-- (and their ids into `ids`, when given).
local function apply_to_followers(id, change, docs, ids)
  for _, follower in ipairs(followers(id)) do
    if apply(follower, change) then
      table.insert(docs, save(follower))
      if ids then table.insert(ids, follower.id) end
    end
  end
  return docs
end

-- The followers of an execution that `change` applies to (those still waiting on it).
local function waiting(id, change)
  local found = {}
  for _, follower in ipairs(followers(id)) do
    if change.expected[follower.status] then table.insert(found, follower) end
  end
  return found
end

-- New identical jobs no longer join `job`'s execution.
local function uninflight(job)
  local inflight = named('inflight', job.fingerprint)
  if redis.call('GET', inflight) == job.id then redis.call('DEL', inflight) end
end

-- Add `amount` to a budget counter if it stays within `limit` (integer micro-dollars).
local function reserve(key, amount, limit, ttl_s)
  local spent = tonumber(redis.call('GET', key) or '0')
  if spent + amount > limit then return false end
  redis.call('INCRBY', key, amount)
  redis.call('EXPIRE', key, ttl_s)
  return true
end

local function enqueue(stream, id)
  local entry = redis.call('XADD', stream, '*', 'job', id)
  redis.call('SET', named('entry', id), entry, 'PX', ttl)
end

-- The job's current stream entry if `consumer` holds its delivery, else false.
local function held_entry(stream, id, consumer)
  local entry = redis.call('GET', named('entry', id))
  if not entry then return false end
  local held = redis.call('XPENDING', stream, ctx.group, entry, entry, 1)
  if #held == 0 or held[1][2] ~= consumer then return false end
  return entry
end

-- Whether `consumer` ('' for a caller that holds no delivery), whose claim was the job's
-- `delivery`-th ('' unchecked), may end, requeue or defer the job's run: only the holder
-- of its latest delivery may. A worker that stalled past the visibility timeout, whose job
-- another consumer (or its own process, under the same name) reclaimed, would otherwise
-- end it before the other run's billed call is recorded on it (attempts are recorded only
-- while the job is active).
local function holds(stream, job, consumer, delivery)
  if consumer == '' then return true end
  if delivery ~= '' and job.deliveries ~= tonumber(delivery) then return false end
  return held_entry(stream, job.id, consumer) ~= false
end

-- Acknowledge and delete the job's stream entry, if it has one.
local function release(stream, id)
  local entry = redis.call('GET', named('entry', id))
  if entry then
    redis.call('XACK', stream, ctx.group, entry)
    redis.call('XDEL', stream, entry)
    redis.call('DEL', named('entry', id))
  end
end

-- Deferred jobs whose not-before time has come join the stream (a few per call).
local function promote_due(stream, deferred)
  local due = redis.call(
    'ZRANGEBYSCORE', deferred, '-inf', string.format('%.0f', now_ms()), 'LIMIT', 0, 16)
  for _, id in ipairs(due) do
    redis.call('ZREM', deferred, id)
    local job = read(id)
    if job and ACTIVE[job.status] then enqueue(stream, id) end
  end
end

-- Milliseconds until the next deferred job is due, or false when none waits.
local function next_due(deferred)
  local first = redis.call('ZRANGE', deferred, 0, 0, 'WITHSCORES')
  if #first == 0 then return false end
  return math.max(1, math.floor(tonumber(first[2]) - now_ms()))
end

-- The execution led by `job` is over: no followers, no in-flight entry, nothing queued.
local function end_execution(stream, job)
  redis.call('DEL', named('followers', job.id))
  uninflight(job)
  release(stream, job.id)
end

-- A delivered stream entry starts its job (and the followers the change applies to), and
-- announces the start as progress.
-- Returns {'job', doc}; {'job', doc} unstarted but counted for a job delivered more than
-- max_deliveries times (the worker ends it); false for a stale entry (job ended, expired
-- or requeued since), which is dropped.
local function deliver(stream, entry, id, max_deliveries, start, follow)
  local job = id and read(id)
  if not job or redis.call('GET', named('entry', id)) ~= entry
      or not start.expected[job.status] then
    redis.call('XACK', stream, ctx.group, entry)
    redis.call('XDEL', stream, entry)
    return false
  end
  if job.deliveries >= max_deliveries then
    job.deliveries = job.deliveries + 1
    return {'job', save(job)}
  end
  apply(job, start)
  local doc = save(job)
  apply_to_followers(id, follow, {})
  announce(id, 'progress')
  return {'job', doc}
end
"""

# KEYS: job, cache, inflight, stream, tenant active set, tenant index[, budget counter]
# [, the usage keys of a cache hit].
# ARGV[4]: the PENDING job document; [5]: '1' to bypass the cache and in-flight joining;
# [6]: the tenant's concurrency cap or ''; [7]: deadline (epoch ms) or ''; [8]: created
# (epoch ms, the index score); [9]: the born-cached change; [10]: the join changes by the
# leader's status; [11]: the job's own deadline (epoch ms, the deadline index score) or '';
# [12..14]: the budget reservation (micro-dollars, limit, ttl seconds) or '', '', '';
# [15..]: what a cache hit adds to the usage records (`add_usage`'s arguments), if any.
# Returns the stored document, or {'refused', 'concurrency' | 'budget' | 'expired'}
# storing nothing.
SUBMIT = (
    PRELUDE
    + ADD_FUNCTION
    + """
local deadline = tonumber(ARGV[7])
if deadline and now_ms() > deadline then return {'refused', 'expired'} end
local job = load(ARGV[4])
local stored = redis.call('GET', KEYS[1])
if stored then return stored end  -- a repeated or retried submit
local use_cache = ARGV[5] ~= '1'
local budget_key = ARGV[12] ~= '' and KEYS[7]
local reserved = job.reserved
job.reserved = {}  -- only a job that will run holds a reservation
local function indexed(doc)
  redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', string.format('%.0f', now_ms() - ttl))
  redis.call('ZADD', KEYS[6], ARGV[8], job.id)
  redis.call('PEXPIRE', KEYS[6], ttl)
  if ARGV[11] ~= '' and ACTIVE[job.status] then
    redis.call('ZADD', ctx.deadlines, ARGV[11], job.id)
  end
  return doc
end
if use_cache then
  local cached = redis.call('GET', KEYS[2])
  if cached then
    apply(job, decode_change(ARGV[9]))
    job.result = cjson.decode(cached)
    local doc = indexed(save(job))
    -- What it saved is recorded in this same step: once, and never without the job.
    if ARGV[15] then add_usage(KEYS, budget_key and 8 or 7, ARGV, 15) end
    return doc
  end
end
local max_active = tonumber(ARGV[6])
if max_active then
  redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', string.format('%.0f', now_ms()))
  if redis.call('ZCARD', KEYS[5]) >= max_active then return {'refused', 'concurrency'} end
end
local leader_id = redis.call('GET', KEYS[3])
local leader = leader_id and read(leader_id)
local join = leader and cjson.decode(ARGV[10])[leader.status]
if not join then leader = nil end  -- none, or one that can no longer be joined
if use_cache and leader then
  apply(job, prepared(join))
  job.leader_id, job.started_at = leader.id, leader.started_at
  redis.call('RPUSH', named('followers', leader.id), job.id)
  redis.call('PEXPIRE', named('followers', leader.id), ttl)
  return indexed(save(job))
end
if budget_key then
  if not reserve(budget_key, tonumber(ARGV[12]), tonumber(ARGV[13]), ARGV[14]) then
    return {'refused', 'budget'}
  end
  job.reserved = reserved
end
if not leader then redis.call('SET', KEYS[3], job.id, 'PX', ttl) end
local doc = indexed(save(job))
enqueue(KEYS[4], job.id)
return doc
"""
)

# KEYS: budget counter[, job]. ARGV[4..6]: amount, limit (micro-dollars), ttl (s);
# ARGV[7]: the hold the job records (JSON). A job that is no longer active reserves
# nothing. -> 1 | 0
RESERVE = (
    PRELUDE
    + """
local job = nil
if KEYS[2] then
  local doc = redis.call('GET', KEYS[2])
  if not doc then return 0 end
  job = load(doc)
  if not ACTIVE[job.status] then return 0 end
end
if not reserve(KEYS[1], tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]) then return 0 end
if job then
  table.insert(job.reserved, cjson.decode(ARGV[7]))
  save(job)
end
return 1
"""
)

# KEYS: stream, deferred. ARGV[4..8]: consumer, visibility timeout (ms), max deliveries, the
# start change, the follower start change. Due deferred jobs join the stream first; then a
# delivery idle for the visibility timeout, else a new entry; never blocks. Nothing to
# take: {'wait', ms until the next deferred job is due} or false. (XPENDING IDLE finds the
# oldest stale delivery however many live ones precede it; XAUTOCLAIM from 0-0 would look
# at only COUNT*10 entries.)
TAKE = (
    PRELUDE
    + """
local stream, consumer, idle = KEYS[1], ARGV[4], ARGV[5]
local max_deliveries = tonumber(ARGV[6])
local start, follow = decode_change(ARGV[7]), decode_change(ARGV[8])
promote_due(stream, KEYS[2])
for _ = 1, 10 do
  local entries
  local stale = redis.call('XPENDING', stream, ctx.group, 'IDLE', idle, '-', '+', 1)
  if #stale > 0 then
    -- empty when the entry was deleted meanwhile (XCLAIM drops it from the group)
    entries = redis.call('XCLAIM', stream, ctx.group, consumer, idle, stale[1][1])
  else
    local fresh = redis.call(
      'XREADGROUP', 'GROUP', ctx.group, consumer, 'COUNT', 1, 'STREAMS', stream, '>')
    if not fresh then
      local wait = next_due(KEYS[2])
      if wait then return {'wait', wait} end
      return false
    end
    entries = fresh[1][2]
  end
  if #entries > 0 then
    local entry, fields = entries[1][1], entries[1][2]
    local outcome = deliver(
      stream, entry, fields and fields[2], max_deliveries, start, follow)
    if outcome then return outcome end
  end
end
return false
"""
)

# KEYS: job, stream. ARGV[4..8]: entry id, job id, max deliveries, start, follower start.
START = (
    PRELUDE
    + """
return deliver(
  KEYS[2], ARGV[4], ARGV[5], tonumber(ARGV[6]), decode_change(ARGV[7]), decode_change(ARGV[8]))
"""
)

# KEYS: job, stream. ARGV[4..5]: job id, consumer. Reset the delivery's idle clock, so a
# job that runs longer than the visibility timeout is not reclaimed while its worker lives;
# only while `consumer` still holds it: a worker that stalled past the timeout, whose job
# another consumer reclaimed, does not take the delivery back. -> 1 | 0
HEARTBEAT = (
    PRELUDE
    + """
local entry = held_entry(KEYS[2], ARGV[4], ARGV[5])
if not entry then return 0 end
return #redis.call('XCLAIM', KEYS[2], ctx.group, ARGV[5], 0, entry, 'JUSTID')
"""
)

# KEYS: job. ARGV[4]: a change that touches the job alone (compare-and-set).
PATCH = (
    PRELUDE
    + """
local doc = redis.call('GET', KEYS[1])
if not doc then return false end
local job = load(doc)
if apply(job, decode_change(ARGV[4])) then save(job) end
return false
"""
)

# KEYS: job. ARGV[4]: the attempt (JSON), recorded (and announced as progress) only while
# the job is active.
ADD_ATTEMPT = (
    PRELUDE
    + """
local doc = redis.call('GET', KEYS[1])
if not doc then return false end
local job = load(doc)
if ACTIVE[job.status] then
  table.insert(job.attempts, cjson.decode(ARGV[4]))
  save(job)
  announce(job.id, 'progress')
end
return false
"""
)

# KEYS: job, stream. ARGV[4]: the ending change (to the job and its followers); [5]: the
# result to cache under the job's fingerprint, or ''; [6]: cache ttl (ms); [7]: the ending
# of a job whose cancel was recorded while it ran for others (it takes the recorded error);
# [8]: the finishing consumer, or '' for a caller that holds no delivery; [9]: the number of
# its delivery (`job.deliveries` when it claimed the job), or ''.
# A job the change does not apply to (already ended, or gone) is left alone, and so is a
# job whose delivery consumer [8] no longer holds (another consumer reclaimed it): only the
# holder ends a run, so every billed attempt of a reclaimed job lands on it (ADD_ATTEMPT
# records them while the job is active). Each job ended is announced ('changed').
# -> the changed documents
FINISH = (
    PRELUDE
    + """
local doc = redis.call('GET', KEYS[1])
if not doc then return {} end
local job, change = load(doc), decode_change(ARGV[4])
if not holds(KEYS[2], job, ARGV[8], ARGV[9]) then return {} end
local own = change
if present(job.cancel) then
  own = decode_change(ARGV[7])
  own.set.error = job.cancel
end
if not apply(job, own) then return {} end
local ended = {job.id}
local docs = apply_to_followers(job.id, change, {save(job)}, ended)
end_execution(KEYS[2], job)
if ARGV[5] ~= '' then
  redis.call('SET', named('cache', job.fingerprint), ARGV[5], 'PX', ARGV[6])
end
for _, id in ipairs(ended) do announce(id, 'changed') end
return docs
"""
)

# KEYS: job, stream. ARGV[4]: the requeue change (to the job and its followers); [5]: the
# requeuing consumer, or ''; [6]: the number of its delivery, or ''. Only a job it applies
# to, whose latest delivery [5] still holds (see FINISH), goes back to the queue. -> 1 | 0
REQUEUE = (
    PRELUDE
    + """
local doc = redis.call('GET', KEYS[1])
if not doc then return 0 end
local job, change = load(doc), decode_change(ARGV[4])
if not holds(KEYS[2], job, ARGV[5], ARGV[6]) or not apply(job, change) then return 0 end
save(job)
apply_to_followers(job.id, change, {})
release(KEYS[2], job.id)
enqueue(KEYS[2], job.id)
return 1
"""
)

# KEYS: job, stream, deferred. ARGV[4]: the deferred change; [5]: the followers' requeue
# change; [6]: delay (ms); [7]: the deferring consumer, or ''; [8]: the number of its
# delivery, or ''. Only a job the change applies to, whose latest delivery [7] still holds
# (see FINISH), leaves the stream for the deferred set, due `delay` ms from Redis's clock.
# -> 1 | 0
DEFER = (
    PRELUDE
    + """
local doc = redis.call('GET', KEYS[1])
if not doc then return 0 end
local job, change = load(doc), decode_change(ARGV[4])
if not holds(KEYS[2], job, ARGV[7], ARGV[8]) or not apply(job, change) then return 0 end
save(job)
apply_to_followers(job.id, decode_change(ARGV[5]), {})
release(KEYS[2], job.id)
redis.call('ZADD', KEYS[3], now_ms() + tonumber(ARGV[6]), job.id)
return 1
"""
)

# KEYS: the tenant's set. Members expire with their job (score = expiry in ms).
COUNT_ACTIVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now))
return redis.call('ZCARD', KEYS[1])
"""

# KEYS: job, stream. ARGV[4]: the cancel (`jobs.Cancel.to_json`: a change per role). See
# `StateStore.cancel`. -> {} for no job, else {the job's document after, {documents of the
# jobs it ended}, id of the execution now to stop or ''}
CANCEL = (
    PRELUDE
    + """
local doc = redis.call('GET', KEYS[1])
if not doc then return {} end
local stream, c = KEYS[2], cjson.decode(ARGV[4])
for _, change in pairs(c) do prepared(change) end
local job = load(doc)
if present(job.leader_id) then  -- a follower: it alone ends
  if not apply(job, c.follower) then return {doc, {}, ''} end
  local ended = save(job)
  redis.call('LREM', named('followers', job.leader_id), 0, job.id)
  local leader, stopping = read(job.leader_id), ''
  if leader and present(leader.cancel) and not present(leader.stop)
      and c.stopped.expected[leader.status] and #waiting(leader.id, c.follower) == 0 then
    apply(leader, c.stopped)
    save(leader)
    uninflight(leader)
    stopping = leader.id
  end
  return {ended, {ended}, stopping}
end
if apply(job, c.queued) then  -- queued: ends now; its followers get the execution
  local ended = save(job)
  local heirs = waiting(job.id, c.promoted)
  if #heirs == 0 then
    end_execution(stream, job)
    return {ended, {ended}, ''}
  end
  release(stream, job.id)
  local heir = heirs[1]
  apply(heir, c.promoted)
  save(heir)
  local list = named('followers', heir.id)
  for i = 2, #heirs do
    heirs[i].leader_id = heir.id
    save(heirs[i])
    redis.call('RPUSH', list, heirs[i].id)
  end
  redis.call('PEXPIRE', list, ttl)
  redis.call('DEL', named('followers', job.id))
  local inflight = named('inflight', job.fingerprint)
  if redis.call('GET', inflight) == job.id then redis.call('SET', inflight, heir.id, 'PX', ttl) end
  enqueue(stream, heir.id)
  return {ended, {ended}, ''}
end
if c.forced and apply(job, c.forced) then  -- its worker did not stop it in time
  local docs = apply_to_followers(job.id, c.follower, {save(job)})
  end_execution(stream, job)
  return {docs[1], docs, ''}
end
if not c.running.expected[job.status] then return {doc, {}, ''} end  -- already ended
if not present(job.cancel) then apply(job, c.running) end  -- the first reason stays
if not present(job.stop) and #waiting(job.id, c.follower) == 0 then
  apply(job, c.stopped)
  uninflight(job)
end
local saved, stopping = save(job), ''
if present(job.stop) then stopping = job.id end
return {saved, {}, stopping}
"""
)

# KEYS: the deadline index. ARGV[4..5]: now (epoch ms), limit. Ids of active jobs whose
# deadline has come; entries of jobs that ended or expired are dropped.
DUE = (
    PRELUDE
    + """
local found = {}
local ids = redis.call('ZRANGE', KEYS[1], '-inf', ARGV[4], 'BYSCORE', 'LIMIT', 0, ARGV[5])
for _, id in ipairs(ids) do
  local job = read(id)
  if job and ACTIVE[job.status] then
    table.insert(found, id)
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return found
"""
)

# KEYS: the tenant's index. ARGV[4]: the highest score (inclusive, or '(ms' exclusive);
# [5]: with an inclusive highest score, the cursor's job id (entries at that score from
# it on were on earlier pages) or ''; [6]: the lowest score ('(ms' or '-inf'); [7]: limit;
# [8]: most index entries to read; [9]: the statuses wanted (JSON list; empty: all).
# Newest first. -> {job documents, {score, id} of the last entry read, or {} at the end}
LIST = (
    PRELUDE
    + """
local index, top, tie, bottom = KEYS[1], ARGV[4], ARGV[5], ARGV[6]
local limit, scan = tonumber(ARGV[7]), tonumber(ARGV[8])
local wanted, any = {}, true
for _, status in ipairs(cjson.decode(ARGV[9])) do
  wanted[status] = true
  any = false
end
local tie_score = nil
if tie ~= '' then tie_score = tonumber(top) end
local found, last, scanned, offset = {}, {}, 0, 0
while true do
  local entries = redis.call(
    'ZRANGE', index, top, bottom, 'BYSCORE', 'REV', 'LIMIT', offset, 100, 'WITHSCORES')
  if #entries == 0 then return {found, {}} end
  for i = 1, #entries, 2 do
    local id, score = entries[i], entries[i + 1]
    if not (tie_score and tonumber(score) == tie_score and id >= tie) then
      if #found == limit or scanned == scan then return {found, last} end
      scanned = scanned + 1
      last = {score, id}
      local doc = redis.call('GET', named('job', id))
      if doc and (any or wanted[load(doc).status]) then table.insert(found, doc) end
    end
  end
  offset = offset + 100
end
"""
)
