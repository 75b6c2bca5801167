"""Lua scripts of the schedule state service: one per atomic change.

Each script changes the status hash, the status index sets and the history list together, so
no reader ever sees a status without its event, or a config in two index sets. Scripts are
registered once per client (``Scripts(redis)``: redis-py runs them by EVALSHA and loads them on
NOSCRIPT), and every key a script touches is passed in KEYS.

Common KEYS layout of the status scripts:
    1 schedule hash, 2 history list, 3 all-schedules set,
    4..7 by-status sets in STATUS_ORDER (active, paused, inactive, error)

The single-config scripts (``TRANSITION``, ``CREATE``, ``EVENT``, ``METADATA``) end their
KEYS and ARGV with one audit entry (``state/audit.py``: ``audit.KEYS_PER_ENTRY`` keys,
``audit.ARGS_PER_ENTRY`` args, the entry '' for none), written only with the change.
"""

from __future__ import annotations

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from taskplane.enums import ScheduleStatus
from taskplane.state import audit
from taskplane.state import events as live_events

STATUS_ORDER = (
    ScheduleStatus.ACTIVE,
    ScheduleStatus.PAUSED,
    ScheduleStatus.INACTIVE,
    ScheduleStatus.ERROR,
)

PUSH_EVENT = """
local function push_event(key, event, hmax, ttl)
  if event ~= '' then
    if redis.call('LPUSH', key, event) > tonumber(hmax) then
      redis.call('LTRIM', key, 0, tonumber(hmax) - 1)
    end
    redis.call('EXPIRE', key, ttl)
  end
end
"""
"""The one way an event joins a history list (newest first, capped at ``hmax``, the TTL
renewed): a Lua function every script that records events composes, the engine's fire
script included. ``event`` '' records nothing."""

METADATA_LUA = """
local function metadata_field(key, value, at)
  if type(value) ~= 'string' then return 'j:' .. key, cjson.encode(value) end
  if key == 'registered_at' then
    if value == at then return 'm:registered_at', '' end
    if value == '' then return 'j:registered_at', '""' end
  end
  return 'm:' .. key, value
end
local function hset_with_metadata(hash, fields, metadata, drop, at)
  local gone = {}
  if metadata ~= '' then
    local setting = {}
    for key, value in pairs(cjson.decode(metadata)) do
      local field, stored = metadata_field(key, value, at)
      fields[#fields + 1] = field
      fields[#fields + 1] = stored
      setting[field] = true
    end
    for _, field in ipairs(redis.call('HKEYS', hash)) do
      local head = string.sub(field, 1, 2)
      if field == drop or field == 'metadata'
          or ((head == 'm:' or head == 'j:') and not setting[field]) then
        gone[#gone + 1] = field
      end
    end
  else
    if at then
      local marked, was = unpack(redis.call('HMGET', hash, 'm:registered_at', 'status_at'))
      if marked == '' and was then
        fields[#fields + 1] = 'm:registered_at'
        fields[#fields + 1] = was
      end
    end
    if drop then gone[1] = drop end
  end
  if #gone > 0 then redis.call('HDEL', hash, unpack(gone)) end
  if #fields > 0 then redis.call('HSET', hash, unpack(fields)) end
end
"""
"""How the state hash keeps a config's metadata (``schedule_records.read_metadata``): each
key of the metadata JSON object in a field of its own, ``m:{key}`` holding a string value
as it is, ``j:{key}`` any other value as JSON (null: ``null``). Writing metadata replaces
every metadata field, the ``metadata`` JSON field of a previous version's layout included.
A ``registered_at`` equal to the ``status_at`` written with it (an activation's) is kept as
``m:registered_at`` '' (the same instant, 32 bytes less); a status change without metadata
writes the instant there before ``status_at`` changes.
  hset_with_metadata(hash, fields, metadata JSON or '', drop field or nil, at or nil) ->
    HSET of ``fields`` (a field / value list, ``at`` the ``status_at`` it writes, nil for
    none) with the metadata's (none for '': the metadata is kept), the field ``drop``
    deleted (one HKEYS or HMGET, at most one HDEL and one HSET)
"""

LUA = (
    PUSH_EVENT
    + METADATA_LUA
    + "local STATUSES = {"
    + ", ".join(f"'{s}'" for s in STATUS_ORDER)
    + """}
local function state_keys(keys, first, hmax, ttl, channel, event)
  local g = {all = keys[first], sets = {}, hmax = hmax, ttl = ttl, channel = channel,
             event = (event == nil or event == '') and cjson.null or event}
  for i, status in ipairs(STATUSES) do g.sets[status] = keys[first + i] end
  return g
end
local function current_status(hash)
  return redis.call('HGET', hash, 'status') or 'inactive'
end
local function allows(allowed, status)
  return allowed == '*' or string.find(',' .. allowed .. ',', ',' .. status .. ',', 1, true) ~= nil
end
local function index_status(g, cid, to)
  for _, status in ipairs(STATUSES) do
    if status ~= to then redis.call('SREM', g.sets[status], cid) end
  end
  redis.call('SADD', g.sets[to], cid)
  redis.call('SADD', g.all, cid)
end
local function publish_change(g, cid, status)
  if g.channel then
    redis.call('PUBLISH', g.channel, cjson.encode(
      {type = 'SCHEDULE_KIND', config_id = tonumber(cid), status = status, event = g.event}))
  end
end
local function pause_timer(g, key, until_at, until_ms)
  g.timer, g.until_at, g.until_ms = key, until_at, until_ms
  return g
end
local function set_status(g, hash, history, cid, to, note, at, event, metadata)
  local fields = {'status', to, 'note', note, 'status_at', at}
  if to == 'paused' and g.until_at ~= nil and g.until_at ~= '' then
    fields[7], fields[8] = 'paused_until', g.until_at
    hset_with_metadata(hash, fields, metadata, nil, at)
    redis.call('ZADD', g.timer, g.until_ms, cid)
  else
    hset_with_metadata(hash, fields, metadata, 'paused_until', at)
    if g.timer then redis.call('ZREM', g.timer, cid) end
  end
  index_status(g, cid, to)
  push_event(history, event, g.hmax, g.ttl)
  publish_change(g, cid, to)
end
local function create_state(g, hash, history, cid, note, at, event, metadata)
  local cur = redis.call('HGET', hash, 'status')
  if cur then return false, cur end
  -- no run counters: an absent one reads 0 (``decode_state``, ``FAILURE_COUNTS``), and
  -- ``RECORD_EXECUTION`` makes each at its first count (four fields less per config)
  hset_with_metadata(hash, {'status', 'inactive', 'note', note, 'status_at', at}, metadata, nil,
    at)
  index_status(g, cid, 'inactive')
  push_event(history, event, g.hmax, g.ttl)
  publish_change(g, cid, 'inactive')
  return true, 'inactive'
end
""".replace("SCHEDULE_KIND", live_events.SCHEDULE)
)
"""The transition logic of the state, as Lua functions: the ``TRANSITION`` and ``CREATE``
scripts below are built from them, and so is every script that changes many configs'
state together with other owners' data (``scheduling/bulk/lua.py``). ``g`` holds a
script's common parts (``state_keys`` builds it): ``all`` and ``sets`` (status -> key: the
index sets), ``hmax``, ``ttl``, and, when the script publishes the live event itself, its
``channel`` and ``event`` (the payload is ``events.schedule_event``'s object, encoded by
``cjson``; without ``channel`` nothing is published: the caller does).
  state_keys(keys, first, hmax, ttl[, channel, event]) -> g (keys[first] is the
    all-schedules set, the next four the by-status sets in STATUS_ORDER)
  pause_timer(g, key, until_at, until_ms) -> g, with the pause timer's zset (``Keys.paused_until``)
    and the ``until`` of a pause ('' none): every status change clears the hash's
    ``paused_until`` and the config's timer entry (a resume or stop cancels the timer in the
    script that makes it), except a change to ``paused`` with an ``until``, which sets both
  current_status(hash) -> status ('inactive' without state)
  allows(allowed, status) -> may the status change from it ('*' any, else comma-separated)
  set_status(g, hash, history, cid, to, note, at, event JSON or '', metadata JSON or '')
  create_state(g, hash, history, cid, note, at, event JSON, metadata JSON) -> created, the
    status (state ``inactive`` with its event; existing state is left alone)
"""

# ARGV: 1 config id, 2 allowed from statuses (comma-separated, '*' = any), 3 new status,
# 4 note, 5 status_at, 6 event JSON ('' = none), 7 history max, 8 history TTL,
# 9 metadata JSON ('' = keep), 10 live-event channel, 11 the live event's ``event`` ('' =
# none): the change's live event is published by the script (``publish_change``);
# 12 the pause's ``until`` (format_instant; '' none), 13 it in epoch ms, 14 the
# ``paused_until`` the hash must hold for the change to apply ('' no check: the pause
# timer's guard, so a stale timer entry changes nothing). KEYS[8]: the pause timer zset.
# Then KEYS 9.. and ARGV 15.. one audit entry.
# A config without state counts as 'inactive' (its state was lost: nothing runs for it).
# Returns {1, previous status} when applied, {0, current status} when `from` (or the
# guard) did not match (then nothing changed).
TRANSITION = (
    LUA
    + audit.LUA
    + """
local cur = current_status(KEYS[1])
if not allows(ARGV[2], cur) then return {0, cur} end
if ARGV[14] ~= '' and redis.call('HGET', KEYS[1], 'paused_until') ~= ARGV[14] then
  return {0, cur}
end
local g = state_keys(KEYS, 3, ARGV[7], ARGV[8], ARGV[10], ARGV[11])
set_status(pause_timer(g, KEYS[8], ARGV[12], ARGV[13]), KEYS[1], KEYS[2],
  ARGV[1], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[9])
audit(KEYS, 9, ARGV, 15)
return {1, cur}
"""
)


# ARGV: 1 config id, 2 note, 3 status_at, 4 event JSON, 5 history max, 6 history TTL,
# 7 metadata JSON, 8 live-event channel, 9 the live event's ``event``; KEYS 9.. and ARGV
# 10.. one audit entry (KEYS[8], the pause timer, is ``TRANSITION``'s: the two share their
# keys). Creates state 'inactive' with the event, its live event and audit entry; existing
# state is left alone.
# Returns {1, 'inactive'} when created, {0, current status} when it existed.
CREATE = (
    LUA
    + audit.LUA
    + """
local made, cur = create_state(state_keys(KEYS, 3, ARGV[5], ARGV[6], ARGV[8], ARGV[9]),
  KEYS[1], KEYS[2],
  ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[7])
if made then audit(KEYS, 9, ARGV, 10) end
return {made and 1 or 0, cur}
"""
)

# KEYS: 1 schedule hash, 2 history list, 3.. one audit entry. ARGV: 1 event JSON, 2 history
# max, 3 history TTL, 4.. the audit entry. Appends an event (and its audit entry) only while
# the config has state (a late event never resurrects a config).
EVENT = (
    PUSH_EVENT
    + audit.LUA
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
push_event(KEYS[2], ARGV[1], ARGV[2], ARGV[3])
audit(KEYS, 3, ARGV, 4)
return 1
"""
)

# KEYS: 1 schedule hash, 2 history list, 3.. one audit entry. ARGV: 1 metadata JSON, 2 event
# JSON ('' = none), 3 history max, 4 history TTL, 5.. the audit entry. Replaces the metadata
# (and records the event and its audit entry) only while the config has state. Returns 1
# when applied.
METADATA = (
    PUSH_EVENT
    + METADATA_LUA
    + audit.LUA
    + """
if redis.call('HEXISTS', KEYS[1], 'status') == 0 then return 0 end
hset_with_metadata(KEYS[1], {}, ARGV[1], nil)
push_event(KEYS[2], ARGV[2], ARGV[3], ARGV[4])
audit(KEYS, 3, ARGV, 5)
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

# KEYS: 1 schedule hash. ARGV: 1 note ('' = none). Replaces the note kept with the status
# (nothing else: not the status, not its time) only while the config has state; returns 1
# when applied.
NOTE = """
if redis.call('HEXISTS', KEYS[1], 'status') == 0 then return 0 end
redis.call('HSET', KEYS[1], 'note', ARGV[1])
return 1
"""

# KEYS: schedule hashes. Returns each one's status (nil without state), in order.
STATUSES = """
local out = {}
for i, key in ipairs(KEYS) do out[i] = redis.call('HGET', key, 'status') or false end
return out
"""

# KEYS: schedule hashes. Returns each one's {consecutive_failures, successes} ({-1, -1}
# without state), in order: the alert detector's failing check, one call for all.
FAILURE_COUNTS = """
local out = {}
for i, key in ipairs(KEYS) do
  local v = redis.call('HMGET', key, 'status', 'consecutive_failures', 'successes')
  if v[1] then
    out[i] = {tonumber(v[2]) or 0, tonumber(v[3]) or 0}
  else
    out[i] = {-1, -1}
  end
end
return out
"""


class Scripts:
    """The registered scripts of one Redis client."""

    __slots__ = (
        "create",
        "event",
        "failure_counts",
        "metadata",
        "note",
        "record_execution",
        "statuses",
        "transition",
    )

    def __init__(self, redis: Redis) -> None:
        self.transition: AsyncScript = redis.register_script(TRANSITION)
        self.create: AsyncScript = redis.register_script(CREATE)
        self.event: AsyncScript = redis.register_script(EVENT)
        self.metadata: AsyncScript = redis.register_script(METADATA)
        self.note: AsyncScript = redis.register_script(NOTE)
        self.record_execution: AsyncScript = redis.register_script(RECORD_EXECUTION)
        self.statuses: AsyncScript = redis.register_script(STATUSES)
        self.failure_counts: AsyncScript = redis.register_script(FAILURE_COUNTS)
