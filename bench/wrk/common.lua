-- Shared by the wrk scripts: prints one JSON line that bench/run.py parses.
local M = {}

-- unexpected: the script's own count of wrong answers, when 2xx is not what it expects.
function M.done(summary, latency, requests, unexpected)
  local non2xx = unexpected or summary.errors.status
  local socket = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "non2xx": %d, "socket_errors": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), non2xx, socket))
end

-- The catalog reads' headers: Cache-Control: no-cache when BENCH_NO_CACHE is set.
function M.catalog_headers()
  if os.getenv("BENCH_NO_CACHE") then
    return {["Cache-Control"] = "no-cache"}
  end
  return {}
end

return M
