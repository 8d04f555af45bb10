-- POST /auth/login with BENCH_USERNAME and BENCH_PASSWORD, over and over. Answers
-- other than BENCH_EXPECT (200 by default; 429 for a throttled username) are
-- counted as errors.
package.path = package.path .. ";" .. os.getenv("BENCH_LUA_DIR") .. "/?.lua"
local common = require("common")
local expected = tonumber(os.getenv("BENCH_EXPECT") or "200")
local body = string.format('{"username": "%s", "password": "%s"}',
  os.getenv("BENCH_USERNAME"), os.getenv("BENCH_PASSWORD"))
local threads = {}

setup = function(thread)
  table.insert(threads, thread)
end

init = function()
  unexpected = 0
end

request = function()
  return wrk.format("POST", "/auth/login", {["Content-Type"] = "application/json"}, body)
end

response = function(status)
  if status ~= expected then
    unexpected = unexpected + 1
  end
end

done = function(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do
    total = total + thread:get("unexpected")
  end
  common.done(summary, latency, requests, total)
end
