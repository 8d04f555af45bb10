-- GET /products: the whole catalogue; with BENCH_NO_CACHE, with Cache-Control: no-cache.
package.path = package.path .. ";" .. os.getenv("BENCH_LUA_DIR") .. "/?.lua"
local common = require("common")
local headers = common.catalog_headers()
request = function()
  return wrk.format("GET", "/products", headers)
end
done = common.done
