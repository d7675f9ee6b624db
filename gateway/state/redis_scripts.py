"""Lua scripts of the `redis://` state: each method's multi-key update as one atomic step.

Every script starts with `PRELUDE`, which reads the common arguments
`ARGV[1..4] = prefix, job_ttl_ms, now (ISO-8601, from Python), consumer group` and defines
the key names (the same as `RedisState`'s) and the helpers below. Script-specific
arguments follow from `ARGV[5]`. Timestamps written into jobs come from Python (`now`);
expiry scores of the tenant sets come from Redis `TIME`, the one clock all processes share.

Job documents are `Job.to_json` with `"spec"` as the last member. The scripts decode and
rewrite only the part before it and keep the spec byte for byte: it holds the user's text
and 64-bit seeds, which Lua's cjson would round to 14 digits.
"""

from __future__ import annotations

PRELUDE = """
local prefix, ttl, now, group = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local stream = prefix .. ':queue'
local ACTIVE = {PENDING = true, RUNNING = true}

local function job_key(id) return prefix .. ':{' .. id .. '}:job' end
local function followers_key(id) return prefix .. ':{' .. id .. '}:followers' end
local function entry_key(id) return prefix .. ':{' .. id .. '}:entry' end
local function cache_key(fp) return prefix .. ':cache:{' .. fp .. '}' end
local function inflight_key(fp) return prefix .. ':inflight:{' .. fp .. '}' end
local function tenant_key(name) return prefix .. ':tenant:{' .. name .. '}:active' end

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local specs = {}  -- decoded job table -> its verbatim ',"spec":{...}}' tail

local function load(doc)
  local at = string.find(doc, ',"spec":{', 1, true)
  local job = cjson.decode(string.sub(doc, 1, at - 1) .. '}')
  specs[job] = string.sub(doc, at)
  return job
end

local function read(id)
  local doc = redis.call('GET', job_key(id))
  if doc then return load(doc) end
  return nil
end

local function dump(job)
  local attempts = job.attempts
  job.attempts = nil
  local body = cjson.encode(job)
  job.attempts = attempts
  local list = '[]'  -- cjson writes an empty table as {}
  if #attempts > 0 then list = cjson.encode(attempts) end
  return string.sub(body, 1, -2) .. ',"attempts":' .. list .. specs[job]
end

-- Write a job for job_ttl; keep its tenant's set of active jobs exact.
local function save(job)
  local doc = dump(job)
  redis.call('SET', job_key(job.id), doc, 'PX', ttl)
  redis.call('PEXPIRE', followers_key(job.id), ttl)
  redis.call('PEXPIRE', entry_key(job.id), ttl)
  local active = tenant_key(job.tenant)
  if ACTIVE[job.status] then
    redis.call('ZADD', active, string.format('%.0f', now_ms() + tonumber(ttl)), job.id)
  else
    redis.call('ZREM', active, job.id)
  end
  return doc
end

local function followers(id)
  local found = {}
  for _, follower_id in ipairs(redis.call('LRANGE', followers_key(id), 0, -1)) do
    local follower = read(follower_id)
    if follower then table.insert(found, follower) end
  end
  return found
end

-- Add `amount` to a budget counter if it stays within `limit` (integer micro-dollars).
local function reserve(key, amount, limit, ttl_s)
  local spent = tonumber(redis.call('GET', key) or '0')
  if spent + amount > limit then return false end
  redis.call('INCRBY', key, amount)
  redis.call('EXPIRE', key, ttl_s)
  return true
end

local function enqueue(id)
  local entry = redis.call('XADD', stream, '*', 'job', id)
  redis.call('SET', entry_key(id), entry, 'PX', ttl)
end

-- Acknowledge and delete the job's stream entry, if it has one.
local function release(id)
  local entry = redis.call('GET', entry_key(id))
  if entry then
    redis.call('XACK', stream, group, entry)
    redis.call('XDEL', stream, entry)
    redis.call('DEL', entry_key(id))
  end
end

-- Make an active job and its active followers terminal; their documents, leader first.
local function finish(job, result, err, cache_ttl)
  local status, result_value, error_value = 'FAILED', cjson.null, cjson.null
  if result then status, result_value = 'SUCCEEDED', cjson.decode(result) end
  if err then error_value = cjson.decode(err) end
  local docs = {}
  local function close(each)
    each.status, each.finished_at = status, now
    each.result, each.error = result_value, error_value
    table.insert(docs, save(each))
  end
  close(job)
  for _, follower in ipairs(followers(job.id)) do
    if ACTIVE[follower.status] then close(follower) end
  end
  redis.call('DEL', followers_key(job.id))
  if redis.call('GET', inflight_key(job.fingerprint)) == job.id then
    redis.call('DEL', inflight_key(job.fingerprint))
  end
  if result then redis.call('SET', cache_key(job.fingerprint), result, 'PX', cache_ttl) end
  release(job.id)
  return docs
end

-- A delivered stream entry: the job becomes RUNNING (and its PENDING followers), or,
-- already delivered max_deliveries times, FAILED with lost_error. Returns {'job', doc},
-- {'lost', docs...}, or false for a stale entry (job finished, expired or requeued).
local function deliver(entry, id, max_deliveries, lost_error)
  local job = id and read(id)
  if not job or redis.call('GET', entry_key(id)) ~= entry then
    redis.call('XACK', stream, group, entry)
    redis.call('XDEL', stream, entry)
    return false
  end
  if job.deliveries >= max_deliveries then
    local docs = finish(job, nil, lost_error, nil)
    table.insert(docs, 1, 'lost')
    return docs
  end
  job.status, job.started_at, job.deliveries = 'RUNNING', now, job.deliveries + 1
  local doc = save(job)
  for _, follower in ipairs(followers(id)) do
    if follower.status == 'PENDING' then
      follower.status, follower.started_at = 'RUNNING', now
      save(follower)
    end
  end
  return {'job', doc}
end
"""

# KEYS: job, cache, inflight, stream, tenant set, budget (derived again in Lua; declared
# for routing). ARGV[5]: the PENDING job document; ARGV[6]: '1' to bypass the cache and
# in-flight joining; ARGV[7]: the tenant's concurrency cap or ''; ARGV[8..10]: the budget
# reservation for the job's first attempt (micro-dollars, limit, ttl seconds) or ''.
# Returns the stored document, or {'refused', 'concurrency' | 'budget'} storing nothing.
SUBMIT = (
    PRELUDE
    + """
local job = load(ARGV[5])
local stored = redis.call('GET', job_key(job.id))
if stored then return stored end  -- a repeated or retried submit
local use_cache = ARGV[6] ~= '1'
local reserved = job.reserved
job.reserved = cjson.decode('{}')  -- only a job that will run holds a reservation
if use_cache then
  local cached = redis.call('GET', cache_key(job.fingerprint))
  if cached then
    job.status, job.cached, job.finished_at = 'SUCCEEDED', true, now
    job.result = cjson.decode(cached)
    return save(job)
  end
end
local max_active = tonumber(ARGV[7])
if max_active then
  local active = tenant_key(job.tenant)
  redis.call('ZREMRANGEBYSCORE', active, '-inf', string.format('%.0f', now_ms()))
  if redis.call('ZCARD', active) >= max_active then return {'refused', 'concurrency'} end
end
local leader_id = redis.call('GET', inflight_key(job.fingerprint))
local leader = leader_id and read(leader_id)
if leader and not ACTIVE[leader.status] then leader = nil end
if use_cache and leader then
  job.leader_id, job.status, job.started_at = leader.id, leader.status, leader.started_at
  redis.call('RPUSH', followers_key(leader.id), job.id)
  redis.call('PEXPIRE', followers_key(leader.id), ttl)
  return save(job)
end
if KEYS[6] ~= '' then
  if not reserve(KEYS[6], tonumber(ARGV[8]), tonumber(ARGV[9]), ARGV[10]) then
    return {'refused', 'budget'}
  end
  job.reserved = reserved
end
if not leader then redis.call('SET', inflight_key(job.fingerprint), job.id, 'PX', ttl) end
local doc = save(job)
enqueue(job.id)
return doc
"""
)

# KEYS: budget counter. ARGV[5..7]: amount, limit (micro-dollars), ttl (s) -> 1 | 0
RESERVE = (
    PRELUDE
    + """
if reserve(KEYS[1], tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7]) then return 1 end
return 0
"""
)

# KEYS: stream. ARGV[5..8]: consumer, visibility timeout (ms), max deliveries, lost error.
# A delivery idle for the visibility timeout first, else a new entry; never blocks.
# (XPENDING IDLE finds the oldest stale delivery however many live ones precede it;
# XAUTOCLAIM from 0-0 would look at only COUNT*10 entries and need a kept cursor.)
TAKE = (
    PRELUDE
    + """
local consumer, idle, max_deliveries, lost = ARGV[5], ARGV[6], tonumber(ARGV[7]), ARGV[8]
for _ = 1, 10 do
  local entries
  local stale = redis.call('XPENDING', stream, group, 'IDLE', idle, '-', '+', 1)
  if #stale > 0 then
    -- empty when the entry was deleted meanwhile (XCLAIM drops it from the group)
    entries = redis.call('XCLAIM', stream, group, consumer, idle, stale[1][1])
  else
    local fresh = redis.call(
      'XREADGROUP', 'GROUP', group, consumer, 'COUNT', 1, 'STREAMS', stream, '>')
    if not fresh then return false end
    entries = fresh[1][2]
  end
  if #entries > 0 then
    local entry, fields = entries[1][1], entries[1][2]
    local outcome = deliver(entry, fields and fields[2], max_deliveries, lost)
    if outcome then return outcome end
  end
end
return false
"""
)

# KEYS: job. ARGV[5..8]: entry id, job id, max deliveries, lost error.
START = (
    PRELUDE
    + """
return deliver(ARGV[5], ARGV[6], tonumber(ARGV[7]), ARGV[8])
"""
)

# KEYS: job. ARGV[5..6]: job id, consumer. Reset the delivery's idle clock, so a job
# that runs longer than the visibility timeout is not reclaimed while its worker lives.
HEARTBEAT = (
    PRELUDE
    + """
local entry = redis.call('GET', entry_key(ARGV[5]))
if not entry then return 0 end
return #redis.call('XCLAIM', stream, group, ARGV[6], 0, entry, 'JUSTID')
"""
)

# KEYS: job. ARGV[5..6]: job id, the attempt (JSON).
ADD_ATTEMPT = (
    PRELUDE
    + """
local job = read(ARGV[5])
if job and ACTIVE[job.status] then
  table.insert(job.attempts, cjson.decode(ARGV[6]))
  save(job)
end
return false
"""
)

# KEYS: job. ARGV[5..8]: job id, result (JSON or ''), error (JSON or ''), cache ttl (ms).
# Compare-and-set: a job that is already terminal (or gone) is left alone.
FINISH = (
    PRELUDE
    + """
local job = read(ARGV[5])
if not job or not ACTIVE[job.status] then return {} end
local result, err = ARGV[6], ARGV[7]
if result == '' then result = nil end
if err == '' then err = nil end
return finish(job, result, err, ARGV[8])
"""
)

# KEYS: job. ARGV[5]: job id. Only a RUNNING job goes back (with its followers).
REQUEUE = (
    PRELUDE
    + """
local job = read(ARGV[5])
if not job or job.status ~= 'RUNNING' then return false end
job.status = 'PENDING'
save(job)
for _, follower in ipairs(followers(job.id)) do
  if follower.status == 'RUNNING' then
    follower.status = 'PENDING'
    save(follower)
  end
end
release(job.id)
enqueue(job.id)
return false
"""
)

# KEYS: the tenant's set. Members expire with their job (score = expiry in ms).
COUNT_ACTIVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now))
return redis.call('ZCARD', KEYS[1])
"""
