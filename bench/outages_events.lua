-- wrk script: GET the paths listed in BENCH_PATHS (one a line), cycling; figures as one JSON line.
--
-- bench/controller_outages_bench.py writes the list: GET /events for one controller over one day,
-- a different controller (and day) on each line. The two threads start at different places. The
-- same script drives nginx (which serves one static file whatever the path).

local paths = {}
for line in io.lines(os.getenv("BENCH_PATHS")) do
  if #line > 0 then paths[#paths + 1] = line end
end
local thread_number = 0

function setup(thread)
  thread:set("offset", thread_number * math.floor(#paths / 2))
  thread_number = thread_number + 1
end

function init(args)
  counter = offset or 0
end

function request()
  counter = counter + 1
  return wrk.format("GET", paths[(counter % #paths) + 1])
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
