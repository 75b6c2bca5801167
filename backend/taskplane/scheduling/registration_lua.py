"""Core's Lua: every write of a registration (its value, its shape, its due score).

``LUA`` holds the writes as functions; core's own scripts ``WRITE`` and ``UNWRITE`` run them
(``core.SchedulerCoreService``), and the bulk path composes them into its ``APPLY``
(``bulk/lua.py``) with the keys core hands out. Nothing else writes these but the engine's
fire script, which advances or removes a due score.

A registration (``registration_store``) is field ``r`` of its config's state hash, a
reference to its shape in the shapes hash (the shape is written with its first reference
and deleted with its last), and its member of the due index: each O(1) (or O(log N)).
Earlier layouts kept a key per registration (``source:data:{schedule_id}``) and, before
that, the taskiq-redis source lists, whose ``LREM`` made a replace a scan of every schedule
(26 ms at a million, this machine); reconcile moves the registrations of the first into
this layout and deletes both (``core.drop_legacy``).
"""

from __future__ import annotations

from taskplane.scheduling.registration_store import FIELD, SHAPE_ID_LEN

# Core's writes, as Lua functions: core's own scripts (``WRITE``, ``UNWRITE``) and the bulk
# path's compose them with core's keys (``shapes``: the shapes hash and its reference counts,
# ``{shapes, refs}``).
#   register(hash, shapes, value, sid, shape, due, cid, score, keep_overdue, now_ms)
#     (keep_overdue '1': an existing due score already due, an unsent fire, is kept)
#   store_value(hash, shapes, value, sid, shape): the registration alone, no due score
#   registered(hash) -> is a registration stored
#   unregister(hash, shapes, due, cid) -> 1 if a registration or a due score was removed
LUA = """
local function set_due(due, cid, score, keep_overdue, now_ms)
  if keep_overdue == '1' then
    local cur = redis.call('ZSCORE', due, cid)
    if cur and tonumber(cur) <= tonumber(now_ms) then return end
  end
  redis.call('ZADD', due, score, cid)
end
local function release_shape(shapes, old)
  local sid = string.sub(old, 1, SHAPE_ID_LEN)
  if redis.call('HINCRBY', shapes[2], sid, -1) <= 0 then
    redis.call('HDEL', shapes[2], sid)
    redis.call('HDEL', shapes[1], sid)
  end
end
local function store_value(hash, shapes, value, sid, shape)
  local old = redis.call('HGET', hash, 'FIELD')
  if old ~= value then
    if redis.call('HINCRBY', shapes[2], sid, 1) == 1 then
      redis.call('HSET', shapes[1], sid, shape)
    end
    if old then release_shape(shapes, old) end
    redis.call('HSET', hash, 'FIELD', value)
  end
end
local function register(hash, shapes, value, sid, shape, due, cid, score, keep_overdue, now_ms)
  store_value(hash, shapes, value, sid, shape)
  set_due(due, cid, score, keep_overdue, now_ms)
end
local function registered(hash)
  return redis.call('HEXISTS', hash, 'FIELD') == 1
end
local function unregister(hash, shapes, due, cid)
  local removed = redis.call('ZREM', due, cid)
  local old = redis.call('HGET', hash, 'FIELD')
  if old then
    redis.call('HDEL', hash, 'FIELD')
    release_shape(shapes, old)
    removed = removed + 1
  end
  return removed > 0 and 1 or 0
end
""".replace("SHAPE_ID_LEN", str(SHAPE_ID_LEN)).replace("FIELD", FIELD)
WRITE_ARGS = 6
# KEYS: 1 due, 2 shapes hash, 3 reference counts, then per registration: its state hash.
# ARGV: 1 now ms, then per registration: config id, value, shape id, shape, due score, keep
# overdue ('1'/'0').
WRITE = (
    LUA
    + f"""
local shapes = {{KEYS[2], KEYS[3]}}
for i = 0, (#ARGV - 1) / {WRITE_ARGS} - 1 do
  local a = 1 + i * {WRITE_ARGS}
  register(KEYS[4 + i], shapes, ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], KEYS[1], ARGV[a + 1],
    ARGV[a + 5], ARGV[a + 6], ARGV[1])
end
return 1
"""
)
# KEYS: 1 due, 2 shapes hash, 3 reference counts, then per registration: its state hash.
# ARGV: per registration: config id. Returns per registration 1 if a registration or a due
# score was removed, else 0.
UNWRITE = (
    LUA
    + """
local shapes = {KEYS[2], KEYS[3]}
local out = {}
for i = 1, #ARGV do
  out[i] = unregister(KEYS[3 + i], shapes, KEYS[1], ARGV[i])
end
return out
"""
)
# KEYS: 1 shapes hash, 2 reference counts, then per registration of an earlier layout: its
# config's state hash. ARGV: per registration: value, shape id, shape. Stores each whose
# config has none (``core.drop_legacy``; the due scores were kept in the same key).
MOVE = (
    LUA
    + """
local shapes = {KEYS[1], KEYS[2]}
for i = 3, #KEYS do
  local a = (i - 3) * 3 + 1
  if not registered(KEYS[i]) then
    store_value(KEYS[i], shapes, ARGV[a], ARGV[a + 1], ARGV[a + 2])
  end
end
return 1
"""
)
# KEYS: the state hashes. Returns per hash its registration's value (false: none).
READ = f"""
local out = {{}}
for i = 1, #KEYS do
  out[i] = redis.call('HGET', KEYS[i], '{FIELD}')
end
return out
"""
