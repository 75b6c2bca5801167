"""The Lua script of the scheduler engine: ``FIRE`` (its EVALSHA: ``evalsha.RawScript``).

``FIRE`` composes the state service's ``PUSH_EVENT`` (the one way an event joins a history
list), so claiming a fire, sending it and recording it stay one atomic step. It writes the
``fired`` (or overlap ``skipped``) event itself, by concatenation (every value in it is an
ISO instant, a number, a task id of digits or a literal: nothing to escape; ``cjson.encode``
of a table per fire cost more), byte for byte the state service's compact format
(``HistoryEvent``: ``e``, ``t`` in epoch µs, ``d``, ``a``; no note, none is given; tests
compare the text with ``fires.event``; the actor is the Lua literal ``"scheduler"``, no
per-fire argument): the engine passes the batch's timestamp once (epoch µs, and ISO for a
jittered fire's ``sent_at``) and, per fire, the due time; the details are
``{due_at, trigger, task_id[, sent_at][, catch_up][, reason]}``, the task id
``{config_id}-{due_ms}``.

Calendar fires (``calendar_fires``): the batch carries the engine's skips version, and the
script refuses the whole batch (``{-2}``) when the stored one differs (a skip changed since
the engine read its copy). A fire flagged ``j<due ms>`` (jitter, always last) records the
due of its next score in the jittered dues hash (none: removed) and its ``fired`` event
adds ``sent_at``.
"""

from __future__ import annotations

from taskplane.actors import SCHEDULER
from taskplane.enums import Event, Trigger
from taskplane.scheduling.registration_store import FIELD
from taskplane.state.scripts import PUSH_EVENT

BATCH_KEYS = 4
"""KEYS before the fires': the due index, the leader lease, the skips version, the
jittered dues hash."""
KEYS_PER_FIRE = 4
"""Per fire: broker stream, history list, running set, the hash that holds the registration
(its state hash, field ``r``)."""
BATCH_ARGS = 6
"""ARGV before the fires': instance id ('' = no fencing), history_max, history_ttl_seconds,
the batch's instant as ISO (``format_instant``: a jittered fire's ``sent_at``), the skips
version the engine's copy was read under, the batch's instant in epoch µs (``epoch.to_us``:
the events' ``t``)."""
ARGS_PER_FIRE = 9
"""Per fire: config id, expected score, next score ('' = remove), body ('' = send nothing),
due ms, due ISO, flags ('o' = overlap check, 'c' = catch-up, 'j<ms>' = jitter), one more
event JSON recorded
first ('' = none), the stored value of the registration the fire was planned from
(``registration_store``: it names the whole text; '' = no check: read just now)."""

# Returns per fire: 0 = score changed (not ours any more), 1 = sent, 2 = skipped by overlap,
# 3 = nothing to send (misfire skip, dropped), 4 = the registration's text is not the one
# planned from (nothing done: plan it again). {-1} alone: this instance does not lead;
# {-2} alone: the skips changed since the engine's copy (nothing done: read them again).
FIRE = PUSH_EVENT + (
    """
local due = KEYS[1]
local me = ARGV[1]
if me ~= '' and redis.call('GET', KEYS[2]) ~= me then
  return {-1}
end
if (redis.call('GET', KEYS[3]) or '0') ~= ARGV[5] then
  return {-2}
end
local hmax, ttl, at, at_us = ARGV[2], ARGV[3], ARGV[4], ARGV[6]
local function history_event(kind, details)
  return '{"e":"' .. kind .. '","t":' .. at_us .. ',"d":{' .. details .. '},"a":"ACTOR"}'
end
local out = {}
for a = BATCH_ARGS, #ARGV - 1, ARGS_PER_FIRE do
  local k = BATCH_KEYS + (a - BATCH_ARGS) / ARGS_PER_FIRE * KEYS_PER_FIRE
  local cid = ARGV[a + 1]
  local cur = redis.call('ZSCORE', due, cid)
  if (not cur) or tonumber(cur) ~= tonumber(ARGV[a + 2]) then
    out[#out + 1] = 0
  elseif ARGV[a + 9] ~= '' and redis.call('HGET', KEYS[k + 4], 'FIELD') ~= ARGV[a + 9] then
    out[#out + 1] = 4
  else
    if ARGV[a + 3] == '' then
      redis.call('ZREM', due, cid)
    else
      redis.call('ZADD', due, ARGV[a + 3], cid)
    end
    push_event(KEYS[k + 2], ARGV[a + 8], hmax, ttl)
    local status = 3
    local flags = ARGV[a + 7]
    local jitter = flags ~= '' and string.find(flags, 'j', 1, true)
    if jitter then
      local next_due = string.sub(flags, jitter + 1)
      if next_due == '' then
        redis.call('HDEL', KEYS[4], cid)
      else
        redis.call('HSET', KEYS[4], cid, next_due)
      end
    end
    if ARGV[a + 4] ~= '' then
      local details = '"due_at":"' .. ARGV[a + 6] .. '","trigger":"TRIGGER","task_id":"'
        .. cid .. '-' .. ARGV[a + 5] .. '"'
      if jitter then details = details .. ',"sent_at":"' .. at .. '"' end
      if string.find(flags, 'c', 1, true) then details = details .. ',"catch_up":true' end
      if string.find(flags, 'o', 1, true) and redis.call('SCARD', KEYS[k + 3]) > 0 then
        details = details .. ',"reason":"overlap"'
        push_event(KEYS[k + 2], history_event('SKIPPED', details), hmax, ttl)
        status = 2
      else
        redis.call('XADD', KEYS[k + 1], '*', 'data', ARGV[a + 4])
        push_event(KEYS[k + 2], history_event('FIRED', details), hmax, ttl)
        status = 1
      end
    end
    out[#out + 1] = status
  end
end
return out
""".replace("TRIGGER", str(Trigger.SCHEDULED))
    .replace("ACTOR", SCHEDULER.name)
    .replace("SKIPPED", str(Event.SKIPPED))
    .replace("FIRED", str(Event.FIRED))
    .replace("BATCH_ARGS", str(BATCH_ARGS))
    .replace("BATCH_KEYS", str(BATCH_KEYS))
    .replace("ARGS_PER_FIRE", str(ARGS_PER_FIRE))
    .replace("KEYS_PER_FIRE", str(KEYS_PER_FIRE))
    .replace("FIELD", FIELD)
)
