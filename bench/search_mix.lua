-- wrk script: cycle through a fixed mix of GET /search queries, report figures as one JSON line.
--
-- The generated feed of the benchmark holds plans between 2021-01-01 and mid-January 2023. The mix
-- is mostly narrow ranges (a day, a week, a month), as a listing page would ask, plus a few wide,
-- open-ended and unbounded queries whose answers are large. Bounds come with 'Z', with an offset
-- ('+' URL-encoded as %2B), naive, as plain dates and with fractional seconds. Every query is
-- valid: the driver checks each one answers 200 before loading the service.
--
-- bench/search_bench.py reads the quoted paths below to measure the body sizes: keep one path per
-- line, in double quotes.

local queries = {
  -- one day
  "/search?starts_at=2021-03-14T00:00:00Z&ends_at=2021-03-14T23:59:59Z",
  "/search?starts_at=2021-05-01T00:00:00Z&ends_at=2021-05-02T00:00:00Z",
  "/search?starts_at=2021-07-21T17:00:00Z&ends_at=2021-07-21T23:59:59Z",
  "/search?starts_at=2021-09-10T00:00:00&ends_at=2021-09-11T00:00:00",
  "/search?starts_at=2021-11-30T02:00:00%2B02:00&ends_at=2021-12-01T02:00:00%2B02:00",
  "/search?starts_at=2022-01-15T00:00:00Z&ends_at=2022-01-15T23:59:59Z",
  "/search?starts_at=2022-02-28T19:00:00-05:00&ends_at=2022-03-01T19:00:00-05:00",
  "/search?starts_at=2022-04-23&ends_at=2022-04-24",
  "/search?starts_at=2022-06-24T00:00:00.000Z&ends_at=2022-06-24T23:59:59.999Z",
  "/search?starts_at=2022-08-15T00:00:00Z&ends_at=2022-08-16T00:00:00Z",
  "/search?starts_at=2022-10-12T00:00:00%2B01:00&ends_at=2022-10-13T00:00:00%2B01:00",
  "/search?starts_at=2022-12-31T00:00:00Z&ends_at=2022-12-31T23:59:59Z",
  -- an evening
  "/search?starts_at=2021-06-05T18:00:00Z&ends_at=2021-06-05T23:30:00Z",
  "/search?starts_at=2022-03-19T20:00:00%2B01:00&ends_at=2022-03-20T01:00:00%2B01:00",
  -- one week
  "/search?starts_at=2021-01-04T00:00:00Z&ends_at=2021-01-11T00:00:00Z",
  "/search?starts_at=2021-02-15T00:00:00Z&ends_at=2021-02-22T00:00:00Z",
  "/search?starts_at=2021-04-05T00:00:00&ends_at=2021-04-12T00:00:00",
  "/search?starts_at=2021-06-01T00:00:00Z&ends_at=2021-06-08T00:00:00Z",
  "/search?starts_at=2021-08-02T00:00:00%2B02:00&ends_at=2021-08-09T00:00:00%2B02:00",
  "/search?starts_at=2021-10-18T00:00:00Z&ends_at=2021-10-25T00:00:00Z",
  "/search?starts_at=2021-12-20T00:00:00-03:00&ends_at=2021-12-27T00:00:00-03:00",
  "/search?starts_at=2022-02-07&ends_at=2022-02-14",
  "/search?starts_at=2022-05-16T00:00:00Z&ends_at=2022-05-23T00:00:00Z",
  "/search?starts_at=2022-07-04T00:00:00Z&ends_at=2022-07-11T00:00:00Z",
  "/search?starts_at=2022-09-19T00:00:00&ends_at=2022-09-26T00:00:00",
  "/search?starts_at=2022-11-07T00:00:00%2B01:00&ends_at=2022-11-14T00:00:00%2B01:00",
  -- one month
  "/search?starts_at=2021-01-01T00:00:00Z&ends_at=2021-02-01T00:00:00Z",
  "/search?starts_at=2021-04-01T00:00:00Z&ends_at=2021-05-01T00:00:00Z",
  "/search?starts_at=2021-07-01T00:00:00%2B02:00&ends_at=2021-08-01T00:00:00%2B02:00",
  "/search?starts_at=2021-10-01&ends_at=2021-11-01",
  "/search?starts_at=2022-03-01T00:00:00Z&ends_at=2022-04-01T00:00:00Z",
  "/search?starts_at=2022-06-01T00:00:00&ends_at=2022-07-01T00:00:00",
  "/search?starts_at=2022-09-01T00:00:00Z&ends_at=2022-10-01T00:00:00Z",
  "/search?starts_at=2022-12-01T00:00:00-05:00&ends_at=2023-01-01T00:00:00-05:00",
  -- a quarter, half a year
  "/search?starts_at=2021-04-01T00:00:00Z&ends_at=2021-07-01T00:00:00Z",
  "/search?starts_at=2022-01-01T00:00:00Z&ends_at=2022-04-01T00:00:00Z",
  "/search?starts_at=2022-07-01T00:00:00%2B02:00&ends_at=2023-01-01T00:00:00%2B01:00",
  -- open-ended after a date (the end of the catalogue)
  "/search?starts_at=2022-12-15T00:00:00Z",
  "/search?starts_at=2022-11-01T00:00:00%2B01:00",
  "/search?starts_at=2022-10-01",
  "/search?starts_at=2023-01-01T00:00:00",
  -- open-ended before a date (the start of the catalogue)
  "/search?ends_at=2021-01-15T00:00:00Z",
  "/search?ends_at=2021-02-01T00:00:00-03:00",
  "/search?ends_at=2021-03-01",
  "/search?ends_at=2021-01-08T00:00:00",
  -- nothing in range
  "/search?starts_at=2019-01-01T00:00:00Z&ends_at=2019-12-31T23:59:59Z",
  "/search?starts_at=2030-01-01T00:00:00Z",
  -- wide: a whole year, the whole catalogue, no bounds at all
  "/search?starts_at=2021-01-01T00:00:00Z&ends_at=2022-01-01T00:00:00Z",
  "/search?starts_at=2020-01-01T00:00:00Z&ends_at=2024-01-01T00:00:00Z",
  "/search",
}

-- BENCH_MIX=day keeps only the one-day queries (answers of about 1 KB, the size the issue's
-- reference figures were measured with); the default is the whole mix above.
if os.getenv("BENCH_MIX") == "day" then
  local day = {}
  for i = 1, 12 do day[i] = queries[i] end
  queries = day
end

local counter = 0
local thread_number = 0

function setup(thread)
  thread:set("thread_offset", thread_number * 7)
  thread_number = thread_number + 1
end

function init(args)
  -- Threads start at different places so they do not ask for the same answer at the same time.
  counter = thread_offset or 0
end

function request()
  counter = counter + 1
  return wrk.format("GET", queries[(counter % #queries) + 1])
end

function done(summary, latency, requests)
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"max_us":%d,"mean_us":%.1f,"errors_connect":%d,"errors_read":%d,"errors_write":%d,' ..
    '"errors_status":%d,"errors_timeout":%d,"mix_size":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.status,
    summary.errors.timeout, #queries))
end
