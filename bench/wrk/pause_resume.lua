-- POST /api/v1/schedules/{id}/pause, later .../resume, round-robin over B4_ID_COUNT active
-- schedules from B4_FIRST_ID: the same id comes back only after B4_ID_COUNT requests, so a
-- resume never races its own pause (each answer is a 200, not a 409).
local first = tonumber(os.getenv("B4_FIRST_ID"))
local count = tonumber(os.getenv("B4_ID_COUNT"))
local headers = {
  ["Authorization"] = "Bearer " .. os.getenv("B4_TOKEN"),
  ["Content-Type"] = "application/json",
}
local i = 0
local paused = {}

request = function()
  local k = i % count
  i = i + 1
  local action = "pause"
  if paused[k] then
    action = "resume"
    paused[k] = nil
  else
    paused[k] = true
  end
  return wrk.format("POST", "/api/v1/schedules/" .. (first + k) .. "/" .. action, headers, "{}")
end
