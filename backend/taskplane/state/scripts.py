"""Lua scripts of the schedule state service: one per atomic change.

Each script changes the status hash, the status index sets and the history list together, so
no reader ever sees a status without its event, or a config in two index sets. Scripts are
registered once per client (``Scripts(redis)``: redis-py runs them by EVALSHA and loads them on
NOSCRIPT), and every key a script touches is passed in KEYS.

Common KEYS layout of the status scripts:
    1 schedule hash, 2 history list, 3 all-schedules set,
    4..7 by-status sets in STATUS_ORDER (active, paused, inactive, error)
"""

from __future__ import annotations

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from taskplane.enums import ScheduleStatus

STATUS_ORDER = (
    ScheduleStatus.ACTIVE,
    ScheduleStatus.PAUSED,
    ScheduleStatus.INACTIVE,
    ScheduleStatus.ERROR,
)

PUSH_EVENT = """
local function push_event(key, event, hmax, ttl)
  if event ~= '' then
    redis.call('LPUSH', key, event)
    redis.call('LTRIM', key, 0, tonumber(hmax) - 1)
    redis.call('EXPIRE', key, ttl)
  end
end
"""
"""The one way an event joins a history list (newest first, capped at ``hmax``, the TTL
renewed): a Lua function every script that records events composes, the engine's fire
script included. ``event`` '' records nothing."""

_COMMON = (
    PUSH_EVENT
    + """
local function index_of(status)
  if status == 'active' then return 4 end
  if status == 'paused' then return 5 end
  if status == 'inactive' then return 6 end
  if status == 'error' then return 7 end
  return nil
end
local function set_status(cid, cur, to)
  for i = 4, 7 do
    if i ~= index_of(to) then redis.call('SREM', KEYS[i], cid) end
  end
  redis.call('SADD', KEYS[index_of(to)], cid)
  redis.call('SADD', KEYS[3], cid)
end
"""
)

# ARGV: 1 config id, 2 allowed from statuses (comma-separated, '*' = any), 3 new status,
# 4 note, 5 status_at, 6 event JSON ('' = none), 7 history max, 8 history TTL,
# 9 metadata JSON ('' = keep).
# A config without state counts as 'inactive' (its state was lost: nothing runs for it).
# Returns {1, previous status} when applied, {0, current status} when `from` did not match
# (then nothing changed).
TRANSITION = (
    _COMMON
    + """
local cur = redis.call('HGET', KEYS[1], 'status')
if not cur then cur = 'inactive' end
local allowed = ARGV[2]
if allowed ~= '*' and not string.find(',' .. allowed .. ',', ',' .. cur .. ',', 1, true) then
  return {0, cur}
end
redis.call('HSET', KEYS[1], 'status', ARGV[3], 'note', ARGV[4], 'status_at', ARGV[5])
if ARGV[9] ~= '' then
  redis.call('HSET', KEYS[1], 'metadata', ARGV[9])
end
set_status(ARGV[1], cur, ARGV[3])
push_event(KEYS[2], ARGV[6], ARGV[7], ARGV[8])
return {1, cur}
"""
)

# ARGV: 1 config id, 2 note, 3 status_at, 4 event JSON, 5 history max, 6 history TTL,
# 7 metadata JSON. Creates state 'inactive' with the event; existing state is left alone.
# Returns {1, 'inactive'} when created, {0, current status} when it existed.
CREATE = (
    _COMMON
    + """
local cur = redis.call('HGET', KEYS[1], 'status')
if cur then return {0, cur} end
redis.call('HSET', KEYS[1], 'status', 'inactive', 'note', ARGV[2], 'status_at', ARGV[3],
  'metadata', ARGV[7], 'runs', 0, 'successes', 0, 'failures', 0, 'consecutive_failures', 0)
set_status(ARGV[1], 'inactive', 'inactive')
push_event(KEYS[2], ARGV[4], ARGV[5], ARGV[6])
return {1, 'inactive'}
"""
)

# KEYS: 1 schedule hash, 2 history list. ARGV: 1 event JSON, 2 history max, 3 history TTL.
# Appends an event only while the config has state (a late event never resurrects a config).
EVENT = (
    PUSH_EVENT
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
push_event(KEYS[2], ARGV[1], ARGV[2], ARGV[3])
return 1
"""
)

# KEYS: 1 schedule hash, 2 history list. ARGV: 1 metadata JSON, 2 event JSON ('' = none),
# 3 history max, 4 history TTL. Replaces the metadata (and records the event) only while the
# config has state. Returns 1 when applied.
METADATA = (
    PUSH_EVENT
    + """
if redis.call('HEXISTS', KEYS[1], 'status') == 0 then return 0 end
redis.call('HSET', KEYS[1], 'metadata', ARGV[1])
push_event(KEYS[2], ARGV[2], ARGV[3], ARGV[4])
return 1
"""
)

# KEYS: 1 schedule hash. ARGV: 1 is_success ('1'/'0'), 2 finished_at (fixed-width ISO UTC),
# 3 task id. Counts one execution; last_* follow the latest finish (ISO strings of one fixed
# width compare as times). A config without state is not resurrected: returns 0.
RECORD_EXECUTION = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[1], 'runs', 1)
if ARGV[1] == '1' then
  redis.call('HINCRBY', KEYS[1], 'successes', 1)
  redis.call('HSET', KEYS[1], 'consecutive_failures', 0)
else
  redis.call('HINCRBY', KEYS[1], 'failures', 1)
  redis.call('HINCRBY', KEYS[1], 'consecutive_failures', 1)
end
local last = redis.call('HGET', KEYS[1], 'last_run_at')
if (not last) or last <= ARGV[2] then
  redis.call('HSET', KEYS[1], 'last_run_at', ARGV[2], 'last_success', ARGV[1],
    'last_task_id', ARGV[3])
end
return 1
"""


class Scripts:
    """The registered scripts of one Redis client."""

    __slots__ = ("create", "event", "metadata", "record_execution", "transition")

    def __init__(self, redis: Redis) -> None:
        self.transition: AsyncScript = redis.register_script(TRANSITION)
        self.create: AsyncScript = redis.register_script(CREATE)
        self.event: AsyncScript = redis.register_script(EVENT)
        self.metadata: AsyncScript = redis.register_script(METADATA)
        self.record_execution: AsyncScript = redis.register_script(RECORD_EXECUTION)
