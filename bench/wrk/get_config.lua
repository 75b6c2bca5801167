-- GET {B4_PATH}/{id} (default /api/v1/configs) with a random id among B4_ID_COUNT ids from
-- B4_FIRST_ID.
local path = os.getenv("B4_PATH") or "/api/v1/configs"
local first = tonumber(os.getenv("B4_FIRST_ID"))
local count = tonumber(os.getenv("B4_ID_COUNT"))
local headers = { ["Authorization"] = "Bearer " .. os.getenv("B4_TOKEN") }

request = function()
  local id = first + math.random(0, count - 1)
  return wrk.format("GET", path .. "/" .. id, headers)
end
