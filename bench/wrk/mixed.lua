-- A store's day: 60 % GET /products/{id}, 25 % GET /products, 15 % orders
-- (place, then cancel on a later turn).
package.path = package.path .. ";" .. os.getenv("BENCH_LUA_DIR") .. "/?.lua"
local common = require("common")
local orders = dofile(os.getenv("BENCH_LUA_DIR") .. "/order_ops.lua")
local n = 0

request = function()
  n = n + 1
  local slot = n % 20
  if slot < 12 then
    return wrk.format("GET", "/products/" .. (n % 3 + 1))
  elseif slot < 17 then
    return wrk.format("GET", "/products")
  end
  return orders.next_request()
end
response = orders.response
done = common.done
