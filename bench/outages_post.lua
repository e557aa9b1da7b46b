-- wrk script: POST /outages with one record per request, every record distinct.
--
-- Each wrk thread plays 1,000 controllers of its own that report every 10 minutes: request n of a
-- thread is controller n mod 1000 at BENCH_BASE + floor(n / 1000) * 600 s, so most requests extend
-- the controller's ongoing event (the realistic case: an outage report every 10 minutes). BENCH_RUN
-- names the run (warm-up and measure use different controllers). Prints one line "BENCH_JSON {...}".

local base = tonumber(os.getenv("BENCH_BASE") or "1761955200")
local run = os.getenv("BENCH_RUN") or "r"
local thread_number = 0

function setup(thread)
  thread:set("id", thread_number)
  thread_number = thread_number + 1
end

function init(args)
  counter = 0
  headers = { ["Content-Type"] = "application/json" }
end

function request()
  local controller = string.format("wrk-%s-%d-%04d", run, id, counter % 1000)
  local at = base + math.floor(counter / 1000) * 600 + id
  counter = counter + 1
  local body = string.format('{"controller_id":"%s","outage_type":"led_outage","timestamp":%d}', controller, at)
  return wrk.format("POST", "/outages", headers, body)
end

function done(summary, latency, requests)
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"max_us":%d,"mean_us":%.1f,"errors_connect":%d,"errors_read":%d,"errors_write":%d,' ..
    '"errors_status":%d,"errors_timeout":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.status,
    summary.errors.timeout))
end
