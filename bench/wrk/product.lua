-- GET /products/{id}: one of the three products, in turn.
package.path = package.path .. ";" .. os.getenv("BENCH_LUA_DIR") .. "/?.lua"
local common = require("common")
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", "/products/" .. (n % 3 + 1))
end
done = common.done
