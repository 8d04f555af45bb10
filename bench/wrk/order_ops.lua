-- Per-thread state of place-then-cancel (each wrk thread has its own Lua state).
local M = {}
local token = os.getenv("BENCH_TOKEN")
local product = os.getenv("BENCH_PRODUCT") or "3"
local placed = {}
local headers = {
  ["Authorization"] = "Bearer " .. token,
  ["Content-Type"] = "application/json",
}
local body = '{"product_id": ' .. product .. ', "quantity": 1}'

function M.next_request()
  local id = table.remove(placed)
  if id then
    return wrk.format("DELETE", "/orders/" .. id, headers)
  end
  return wrk.format("POST", "/orders", headers, body)
end

function M.response(status, _, resp_body)
  if status == 201 then
    local id = string.match(resp_body, '"id"%s*:%s*(%d+)')
    if id then
      table.insert(placed, id)
    end
  end
end

return M
