"""Lua scripts of the scheduler engine (registered once per client by the engine).

``FIRE`` composes the state service's ``PUSH_EVENT`` (the one way an event joins a history
list), so claiming a fire, sending it and recording it stay one atomic step.
"""

from __future__ import annotations

from taskplane.state.scripts import PUSH_EVENT

ARGS_PER_FIRE = 7
KEYS_PER_FIRE = 3

# KEYS: due, leader lease, then per fire: broker stream, history list, running set.
# ARGV: instance id ('' = no fencing), history_max, history_ttl_seconds, then per fire:
#   config id, expected score, next score ('' = remove), body ('' = send nothing),
#   fired event, overlap event ('' = no overlap check), misfire event ('' = none).
# Returns per fire: 0 = score changed (not ours any more), 1 = sent, 2 = skipped by overlap,
# 3 = nothing to send (misfire skip, dropped). {-1} alone: this instance does not lead.
FIRE = (
    PUSH_EVENT
    + """
local due = KEYS[1]
local me = ARGV[1]
if me ~= '' and redis.call('GET', KEYS[2]) ~= me then
  return {-1}
end
local hmax = ARGV[2]
local ttl = ARGV[3]
local out = {}
local n = (#ARGV - 3) / 7
for i = 0, n - 1 do
  local a = 3 + i * 7
  local k = 2 + i * 3
  local cid = ARGV[a + 1]
  local cur = redis.call('ZSCORE', due, cid)
  if (not cur) or tonumber(cur) ~= tonumber(ARGV[a + 2]) then
    out[#out + 1] = 0
  else
    if ARGV[a + 3] == '' then
      redis.call('ZREM', due, cid)
    else
      redis.call('ZADD', due, ARGV[a + 3], cid)
    end
    push_event(KEYS[k + 2], ARGV[a + 7], hmax, ttl)
    local status = 3
    if ARGV[a + 4] ~= '' then
      if ARGV[a + 6] ~= '' and redis.call('SCARD', KEYS[k + 3]) > 0 then
        push_event(KEYS[k + 2], ARGV[a + 6], hmax, ttl)
        status = 2
      else
        redis.call('XADD', KEYS[k + 1], '*', 'data', ARGV[a + 4])
        push_event(KEYS[k + 2], ARGV[a + 5], hmax, ttl)
        status = 1
      end
    end
    out[#out + 1] = status
  end
end
return out
"""
)
