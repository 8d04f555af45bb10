-- GET /products: the whole catalogue; with BENCH_NO_CACHE, with Cache-Control: no-cache.
-- No request function: wrk formats the one request once and sends it again and again.
package.path = package.path .. ";" .. os.getenv("BENCH_LUA_DIR") .. "/?.lua"
local common = require("common")
wrk.path = "/products"
wrk.headers = common.catalog_headers()
done = common.done
