"""Core's Lua: every write of a registration (data key, source list entry, due score).

``LUA`` holds the writes as functions; core's own scripts ``WRITE`` and ``UNWRITE`` run them
(``core.SchedulerCoreService``), and the bulk path composes them into its ``APPLY``
(``bulk/lua.py``) with the keys core hands out. Nothing else writes these keys but the
engine's fire script, which advances or removes a due score.
"""

from __future__ import annotations

# Core's writes, as Lua functions: core's own scripts (``WRITE``, ``UNWRITE``) and the bulk
# path's compose them with core's keys.
#   register(data, body, sid, list, old_list or false, due, cid, score, keep_overdue, now_ms)
#     (keep_overdue '1': an existing due score already due, an unsent fire, is kept)
#   registered(data) -> is a registration stored
#   unregister(data, sid, lists, due, cid) -> 1 if a due score was removed
LUA = """
local function set_due(due, cid, score, keep_overdue, now_ms)
  if keep_overdue == '1' then
    local cur = redis.call('ZSCORE', due, cid)
    if cur and tonumber(cur) <= tonumber(now_ms) then return end
  end
  redis.call('ZADD', due, score, cid)
end
local function register(data, body, sid, list, old_list, due, cid, score, keep_overdue, now_ms)
  redis.call('SET', data, body)
  if old_list then
    redis.call('LREM', old_list, 0, sid)
    if list ~= old_list then redis.call('LREM', list, 0, sid) end
  end
  redis.call('RPUSH', list, sid)
  set_due(due, cid, score, keep_overdue, now_ms)
end
local function registered(data)
  return redis.call('EXISTS', data) == 1
end
local function unregister(data, sid, lists, due, cid)
  redis.call('DEL', data)
  for _, list in ipairs(lists) do redis.call('LREM', list, 0, sid) end
  return redis.call('ZREM', due, cid)
end
local function unchanged(data, sha)
  local stored = redis.call('GET', data)
  return (stored and redis.sha1hex(stored) or '') == sha
end
"""
WRITE_ARGS = 7
WRITE_KEYS = 3
# KEYS: 1 due, then per registration: data, list, old list (the list again when none).
# ARGV: 1 now ms, then per registration: config id, schedule id, body, due score, keep
#   overdue ('1'/'0'), has an old list ('1'/'0'), the SHA1 of the stored text read ('' =
#   none stored). Returns per registration 1 written, 0 not (its stored text changed since).
WRITE = (
    LUA
    + f"""
local out = {{}}
for i = 0, (#ARGV - 1) / {WRITE_ARGS} - 1 do
  local a, k = 1 + i * {WRITE_ARGS}, 1 + i * {WRITE_KEYS}
  if unchanged(KEYS[k + 1], ARGV[a + 7]) then
    local old_list = false
    if ARGV[a + 6] == '1' then old_list = KEYS[k + 3] end
    register(KEYS[k + 1], ARGV[a + 3], ARGV[a + 2], KEYS[k + 2], old_list, KEYS[1],
      ARGV[a + 1], ARGV[a + 4], ARGV[a + 5], ARGV[1])
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out
"""
)
# KEYS: 1 due, then per registration: data, then its lists. ARGV: per registration: config
# id, schedule id, number of lists, the SHA1 of the stored text read ('' = none stored).
# Returns per registration -1 when its stored text changed since (nothing done), else 1 if a
# due score was removed, 0 if none.
UNWRITE = (
    LUA
    + """
local out = {}
local a, k = 0, 1
while a < #ARGV do
  local n = tonumber(ARGV[a + 3])
  if unchanged(KEYS[k + 1], ARGV[a + 4]) then
    out[#out + 1] = unregister(KEYS[k + 1], ARGV[a + 2], {unpack(KEYS, k + 2, k + 1 + n)},
      KEYS[1], ARGV[a + 1])
  else
    out[#out + 1] = -1
  end
  a = a + 4
  k = k + 1 + n
end
return out
"""
)
