-- Place an order, then cancel it: every 201 queues its order id and the next
-- request of the thread cancels it, so the stock comes back. Each request
-- (a place or a cancel) counts once. Orders still placed when the run ends
-- are cancelled by bench/run.py afterwards.
package.path = package.path .. ";" .. os.getenv("BENCH_LUA_DIR") .. "/?.lua"
local common = require("common")
local orders = dofile(os.getenv("BENCH_LUA_DIR") .. "/order_ops.lua")

request = function()
  return orders.next_request()
end
response = orders.response
done = common.done
