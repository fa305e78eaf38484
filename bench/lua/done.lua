-- wrk: appended to ingest.lua and raw.lua: one JSON line with the counts and the latency
-- percentiles (µs).
function done(summary, latency, requests)
  io.write(string.format('{"requests":%d,"seconds":%.3f,"non2xx":%d,"socket":%d,"p50":%d,"p99":%d}\n',
    summary.requests, summary.duration / 1e6, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
