-- GET /products/{id}: one of the three products, in turn; with BENCH_NO_CACHE, each
-- with Cache-Control: no-cache (past NGINX's microcache, to a replica). The three
-- requests are formatted once: wrk shares the cores with what it measures.
package.path = package.path .. ";" .. os.getenv("BENCH_LUA_DIR") .. "/?.lua"
local common = require("common")
local headers = common.catalog_headers()
local requests = {}
-- In init, not at load: wrk sets the Host header only then.
init = function()
  for id = 1, 3 do
    requests[id] = wrk.format("GET", "/products/" .. id, headers)
  end
end
local n = 0
request = function()
  n = n % 3 + 1
  return requests[n]
end
done = common.done
