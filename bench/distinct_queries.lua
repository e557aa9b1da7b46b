-- wrk script: GET /search with a query string never sent before, until a request budget is spent.
--
-- Used by bench/cache_bench.py to show that the /search answer caches stay within their byte
-- bound however many distinct queries arrive. Each thread sends BENCH_REQUESTS / BENCH_THREADS
-- requests (each thread runs its own Lua state: the count comes from the environment),
-- every one distinct (thread number and counter are part of the query), cycling through four kinds:
--   0  the issue's case: a wide range (the whole catalogue, ~950 KB) with a new microsecond each time
--   1  an open-ended range starting at a different minute across the catalogue (large, distinct answers)
--   2  a one-day range at a different second, in another offset (small answers)
--   3  a malformed bound (a 400 answer per distinct string)
-- A thread that has spent its share stops and writes a file into BENCH_DONE_DIR: wrk itself only
-- ends after its duration (-d) or on SIGINT, which the driver sends once every thread is done.
-- Prints one line "BENCH_JSON {...}" when done.

local budget = tonumber(os.getenv("BENCH_REQUESTS") or "100000")
local thread_count = tonumber(os.getenv("BENCH_THREADS") or "1")
local done_dir = os.getenv("BENCH_DONE_DIR")
local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  counter = 0
  answered = 0
  ok = 0
  bad_request = 0
  other = 0
  share = math.ceil(budget / thread_count)
end

local function two(n)
  return string.format("%02d", n)
end

function request()
  counter = counter + 1
  local n = counter * 16 + id
  local kind = counter % 4
  local path
  if kind == 0 then
    path = string.format("/search?starts_at=2021-01-01T00:00:00.%06dZ&ends_at=2023-06-01T00:00:00Z", n % 1000000)
      .. "&t=" .. id .. "-" .. counter
  elseif kind == 1 then
    -- Minutes across 2021-01-01 .. 2022-12-31: the catalogue's span.
    local minute = (n * 7919) % (730 * 24 * 60)
    local day = math.floor(minute / (24 * 60))
    local month = math.floor(day / 31) % 12 + 1
    local year = 2021 + math.floor(day / 372)
    path = "/search?starts_at=" .. year .. "-" .. two(month) .. "-" .. two(day % 28 + 1) .. "T"
      .. two(math.floor(minute / 60) % 24) .. ":" .. two(minute % 60) .. ":00Z&t=" .. id .. "-" .. counter
  elseif kind == 2 then
    local day = n % 28 + 1
    local month = math.floor(n / 28) % 12 + 1
    path = "/search?starts_at=2022-" .. two(month) .. "-" .. two(day) .. "T00:00:" .. two(n % 60)
      .. "-05:00&ends_at=2022-" .. two(month) .. "-" .. two(day) .. "T23:59:" .. two(n % 60) .. "-05:00"
      .. "&t=" .. id .. "-" .. counter
  else
    path = "/search?starts_at=not-a-date-" .. id .. "-" .. counter
  end
  return wrk.format("GET", path)
end

function response(status, headers, body)
  answered = answered + 1
  if status == 200 then
    ok = ok + 1
  elseif status == 400 then
    bad_request = bad_request + 1
  else
    other = other + 1
  end
  if answered == share then
    if done_dir then
      local marker = io.open(done_dir .. "/thread-" .. id, "w")
      if marker then marker:close() end
    end
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local ok_total, bad_total, other_total = 0, 0, 0
  for _, thread in ipairs(threads) do
    ok_total = ok_total + thread:get("ok")
    bad_total = bad_total + thread:get("bad_request")
    other_total = other_total + thread:get("other")
  end
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "bytes": %d, "ok": %d, "bad_request": %d, "other": %d, '
      .. '"errors_connect": %d, "errors_read": %d, "errors_write": %d, "errors_timeout": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, summary.bytes, ok_total, bad_total, other_total,
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout,
    latency:percentile(99)))
end
