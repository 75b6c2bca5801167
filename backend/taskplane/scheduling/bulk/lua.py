"""The scripts of a bulk action (``BEGIN``, ``APPLY``, ``CREATE``): one chunk of configs in one
or two round trips, whatever its size.

``BEGIN`` takes the chunk's free locks and reads, for each config locked, its status.
Python then decides each config's change (``decisions.decide``, the single path's state
machine) and prepares its registration. ``APPLY`` makes every change:
per config, while its lock is still this chunk's, the status change with its event, metadata
and live event (only from an allowed status) and the registration written or removed, then
the lock released. Each config's change is atomic, as the single path's two steps are each.

A start or resume first tries ``APPLY`` alone with F ops: a config nobody holds, whose status
allows the change and which has no stored registration is registered and set active in that
one script (checking the lock free and changing in one atomic step is taking and releasing
it); the others are reported back (busy, not allowed, registered) and take the way above or
the single path.

The scripts are composed of the owners' Lua parts (``locking.LUA``, ``registration_lua.LUA``,
``state.scripts.LUA``) over the keys the owners hand out: this module names no key.

A chunk's command has tens of thousands of arguments: it is sent by ``evalsha.RawScript``
(packed by hiredis in one call, ``script.BulkScript``).
"""

from __future__ import annotations

from taskplane.scheduling import locking
from taskplane.scheduling import registration_lua as core_lua
from taskplane.state import scripts as state_lua

# KEYS: per config: lock, state hash. ARGV: 1 lock token, 2 lease ms.
# Returns per config two values: 1 if its lock was taken (else 0, and a nil), its status
# (nil without state).
BEGIN = (
    locking.LUA
    + """
local out = {}
for i = 1, #KEYS, 2 do
  if take_lock(KEYS[i], ARGV[1], ARGV[2]) then
    out[#out + 1] = 1
    out[#out + 1] = redis.call('HGET', KEYS[i + 1], 'status')
  else
    out[#out + 1] = 0
    out[#out + 1] = false
  end
end
return out
"""
)

# KEYS: 1 all-schedules set, 2..5 by-status sets (STATUS_ORDER), then per config: state
# hash, history. ARGV: 1 status_at, 2 history max, 3 history TTL, 4 live-event channel,
# 5 the live event's ``event``, 6 the ``created`` event JSON, then per config: its id, its
# metadata JSON. Creates each config's state as ``scripts.CREATE`` does (state that exists
# is left alone). Returns per config 1 created, 0 not.
CREATE = (
    state_lua.LUA
    + """
local g = state_keys(KEYS, 1, ARGV[2], ARGV[3], ARGV[4], ARGV[5])
local out = {}
local k = 5
for a = 7, #ARGV, 2 do
  local made = create_state(g, KEYS[k + 1], KEYS[k + 2], ARGV[a], '', ARGV[1], ARGV[6],
    ARGV[a + 1])
  out[#out + 1] = made and 1 or 0
  k = k + 2
end
return out
"""
)

NOT_ALLOWED, APPLIED, BUSY, REGISTERED = 0, 1, 2, 3
"""The codes of an ``APPLY`` op (see the script)."""
GLOBAL_KEYS = 9
GLOBAL_ARGS = 13

# KEYS: 1 due, 2 all-schedules set, 3..6 by-status sets (STATUS_ORDER), 7 the pause timer,
# 8 the registration shapes, 9 their reference counts, then each op's keys.
# ARGV: 1 lock token, 2 now ms, 3 history max, 4 history TTL, 5 live-event channel,
#   6 the live event's ``event``, 7 allowed from ('*' any), 8 to, 9 note, 10 status_at,
#   11 the event of a deactivation ('' none), 12 a pause's until ('' none), 13 it in epoch
#   ms (every status change clears a pending pause timer, a pause with until sets it:
#   ``state.scripts.LUA``); then each op: its letter, the config id, and
#   A activate:   the registration's value, shape id and shape (``registration_store``), due
#                 score, keep overdue ('1'/'0'), metadata JSON, event JSON;
#                 KEYS lock, state (it holds the registration too), history
#   D deactivate: KEYS lock, state, history
#   U unregister: KEYS lock, state
#   R release:    KEYS lock
#   F activate a config nobody holds and nothing is registered for, without its lock (the
#                 check and the change are one script): value, shape id, shape, due score,
#                 metadata JSON, event JSON;  KEYS lock, state, history
# An A, D, U or R op acts only while the config's lock is the token's; A, D and F change the
# status only from an allowed one, and only then register (A, F) or unregister (D). Every
# lock of the token is released. Returns per A, D and F op two values: a code and the
# status before: 1 applied; 0 not (the status is not an allowed one, or for A and D the lock
# is no longer the token's); for F: 2 the lock is busy, 3 a registration is stored (then
# nothing changed for that config).
APPLY = (
    locking.LUA
    + core_lua.LUA
    + state_lua.LUA
    + """
local token, now_ms = ARGV[1], ARGV[2]
local allowed, to, note, at, off_event = ARGV[7], ARGV[8], ARGV[9], ARGV[10], ARGV[11]
local g = pause_timer(state_keys(KEYS, 2, ARGV[3], ARGV[4], ARGV[5], ARGV[6]), KEYS[7],
  ARGV[12], ARGV[13])
local due = KEYS[1]
local shapes = {KEYS[8], KEYS[9]}
local out = {}
local function answer(code, cur)
  out[#out + 1] = code
  out[#out + 1] = cur
end
local a, k = GLOBAL_ARGS, GLOBAL_KEYS
while a < #ARGV do
  local op, cid = ARGV[a + 1], ARGV[a + 2]
  local lock = KEYS[k + 1]
  local mine = op ~= 'F' and holds_lock(lock, token)
  if op == 'F' then
    local hash, history = KEYS[k + 2], KEYS[k + 3]
    local cur = current_status(hash)
    local code = 1
    if not lock_free(lock) then
      code = 2
    elseif not allows(allowed, cur) then
      code = 0
    elseif registered(hash) then
      code = 3
    end
    if code == 1 then
      register(hash, shapes, ARGV[a + 3], ARGV[a + 4], ARGV[a + 5], due, cid, ARGV[a + 6], '0',
        now_ms)
      set_status(g, hash, history, cid, to, note, at, ARGV[a + 8], ARGV[a + 7])
    end
    answer(code, cur)
    a = a + 8
    k = k + 3
  elseif op == 'A' then
    local hash, history = KEYS[k + 2], KEYS[k + 3]
    local cur = current_status(hash)
    local ok = mine and allows(allowed, cur)
    if ok then
      register(hash, shapes, ARGV[a + 3], ARGV[a + 4], ARGV[a + 5], due, cid, ARGV[a + 6],
        ARGV[a + 7], now_ms)
      set_status(g, hash, history, cid, to, note, at, ARGV[a + 9], ARGV[a + 8])
    end
    answer(ok and 1 or 0, cur)
    a = a + 9
    k = k + 3
  elseif op == 'D' then
    local hash, history = KEYS[k + 2], KEYS[k + 3]
    local cur = current_status(hash)
    local ok = mine and allows(allowed, cur)
    if ok then
      set_status(g, hash, history, cid, to, note, at, off_event, '')
      unregister(hash, shapes, due, cid)
    end
    answer(ok and 1 or 0, cur)
    a = a + 2
    k = k + 3
  elseif op == 'U' then
    if mine then unregister(KEYS[k + 2], shapes, due, cid) end
    a = a + 2
    k = k + 2
  else
    a = a + 2
    k = k + 1
  end
  if mine then release_held(lock) end
end
return out
""".replace("GLOBAL_ARGS", str(GLOBAL_ARGS)).replace("GLOBAL_KEYS", str(GLOBAL_KEYS))
)
