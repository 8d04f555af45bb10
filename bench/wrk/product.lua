-- GET /products/{id}: one of the three products, in turn; with BENCH_NO_CACHE, each
-- with Cache-Control: no-cache (past NGINX's microcache, to a replica).
package.path = package.path .. ";" .. os.getenv("BENCH_LUA_DIR") .. "/?.lua"
local common = require("common")
local headers = common.catalog_headers()
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", "/products/" .. (n % 3 + 1), headers)
end
done = common.done
