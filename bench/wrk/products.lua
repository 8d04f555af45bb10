-- GET /products: the whole catalogue.
package.path = package.path .. ";" .. os.getenv("BENCH_LUA_DIR") .. "/?.lua"
local common = require("common")
wrk.method = "GET"
wrk.path = "/products"
done = common.done
