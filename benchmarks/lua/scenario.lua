-- One wrk script for every scenario and target, so the generator's own cost is the same
-- everywhere. Arguments (after `--`): mode, path, API key, body tag, model ("" = default).
--   new   POST a new prompt each request ("<tag> <thread> <counter>": never cached)
--   same  POST the same prompt every time (a cache hit once it has succeeded)
--   get   GET path (poll an existing job)
-- done() prints one line "BENCH_JSON {...}" that benchmarks/wrk.py parses.

local threads = {}

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  mode, path, key, tag, model = args[1], args[2], args[3], args[4], args[5] or ""
  counter = 0
  headers = {
    ["Authorization"] = "Bearer " .. key,
    ["Content-Type"] = "application/json",
  }
  if mode == "get" then
    fixed = wrk.format("GET", path, headers)
  elseif mode == "same" then
    fixed = wrk.format("POST", path, headers, body_for(tag))
  end
end

function body_for(prompt)
  local extra = model ~= "" and (',"model":"' .. model .. '"') or ""
  return '{"prompt":"' .. prompt .. '","size":"64x64"' .. extra .. '}'
end

function request()
  if fixed then
    return fixed
  end
  counter = counter + 1
  return wrk.format("POST", path, headers, body_for(tag .. " " .. id .. " " .. counter))
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"max_us":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end
