"""Core's Lua: every write of a registration (data key and due score).

``LUA`` holds the writes as functions; core's own scripts ``WRITE`` and ``UNWRITE`` run them
(``core.SchedulerCoreService``), and the bulk path composes them into its ``APPLY``
(``bulk/lua.py``) with the keys core hands out. Nothing else writes these keys but the
engine's fire script, which advances or removes a due score.

A registration is two keys' worth: its data key and its member of the due index, both O(1)
(or O(log N)) to write. Earlier versions also kept the taskiq-redis source lists
(``source:cron`` / ``:interval`` / ``:time:{minute}``): replacing or removing a registration
took it out of its list with ``LREM``, a scan of the whole list (26 ms at a million
schedules, this machine), so they went (``core.SchedulerCoreService.drop_legacy_lists``).
"""

from __future__ import annotations

# Core's writes, as Lua functions: core's own scripts (``WRITE``, ``UNWRITE``) and the bulk
# path's compose them with core's keys.
#   register(data, body, due, cid, score, keep_overdue, now_ms)
#     (keep_overdue '1': an existing due score already due, an unsent fire, is kept)
#   registered(data) -> is a registration stored
#   unregister(data, due, cid) -> 1 if a registration or a due score was removed
LUA = """
local function set_due(due, cid, score, keep_overdue, now_ms)
  if keep_overdue == '1' then
    local cur = redis.call('ZSCORE', due, cid)
    if cur and tonumber(cur) <= tonumber(now_ms) then return end
  end
  redis.call('ZADD', due, score, cid)
end
local function register(data, body, due, cid, score, keep_overdue, now_ms)
  redis.call('SET', data, body)
  set_due(due, cid, score, keep_overdue, now_ms)
end
local function registered(data)
  return redis.call('EXISTS', data) == 1
end
local function unregister(data, due, cid)
  local removed = redis.call('DEL', data) + redis.call('ZREM', due, cid)
  return removed > 0 and 1 or 0
end
"""
WRITE_ARGS = 4
# KEYS: 1 due, then per registration: its data key.
# ARGV: 1 now ms, then per registration: config id, body, due score, keep overdue ('1'/'0').
WRITE = (
    LUA
    + f"""
for i = 0, (#ARGV - 1) / {WRITE_ARGS} - 1 do
  local a = 1 + i * {WRITE_ARGS}
  register(KEYS[2 + i], ARGV[a + 2], KEYS[1], ARGV[a + 1], ARGV[a + 3], ARGV[a + 4], ARGV[1])
end
return 1
"""
)
# KEYS: 1 due, then per registration: its data key. ARGV: per registration: config id.
# Returns per registration 1 if a registration or a due score was removed, else 0.
UNWRITE = (
    LUA
    + """
local out = {}
for i = 1, #ARGV do
  out[i] = unregister(KEYS[1 + i], KEYS[1], ARGV[i])
end
return out
"""
)
