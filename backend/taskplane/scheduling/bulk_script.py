"""The two scripts of a bulk control action (``bulk.py``): one chunk of configs in one or two
round trips, whatever its size.

``BEGIN`` takes the chunk's free locks and reads, for each config locked, its status and its
stored registration. Python then decides each config's change (``actions.decide``, the
single path's state machine) and prepares its registration. ``APPLY`` makes every change:
per config, while its lock is still this chunk's, the status change with its event, metadata
and live event (only from an allowed status) and the registration written or removed, then
the lock released. Each config's change is atomic, as the single path's two steps are each.

A start or resume first tries ``APPLY`` alone with F ops: a config nobody holds, whose status
allows the change and which has no stored registration is registered and set active in that
one script (checking the lock free and changing in one atomic step is taking and releasing
it); the others are reported back (busy, not allowed, registered) and take the way above or
the single path.

The scripts are composed of the owners' Lua parts (``locking.LUA``, ``core.LUA``,
``state.scripts.LUA``) over the keys the owners hand out: this module names no key.

A chunk's command has tens of thousands of arguments: it is sent by ``evalsha.RawScript``
(packed by hiredis in one call).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from redis.asyncio import Redis

from taskplane.enums import Event, ScheduleStatus
from taskplane.scheduling import locking
from taskplane.scheduling import registration_lua as core_lua
from taskplane.scheduling.core import SchedulerCoreService
from taskplane.scheduling.evalsha import RawScript
from taskplane.scheduling.locking import ScheduleLocks
from taskplane.scheduling.registration import SCHEDULE_ID_PREFIX
from taskplane.state import scripts as state_lua
from taskplane.state.history import format_instant
from taskplane.state.schedule_state import ScheduleStateService

# KEYS: per config: lock, state hash, registration. ARGV: 1 lock token, 2 lease ms.
# Returns per config three values: 1 if its lock was taken (else 0, and two nils), its status
# (nil without state), its stored registration (nil if none).
BEGIN = (
    locking.LUA
    + """
local out = {}
for i = 1, #KEYS, 3 do
  if take_lock(KEYS[i], ARGV[1], ARGV[2]) then
    out[#out + 1] = 1
    out[#out + 1] = redis.call('HGET', KEYS[i + 1], 'status')
    out[#out + 1] = redis.call('GET', KEYS[i + 2])
  else
    out[#out + 1] = 0
    out[#out + 1] = false
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
_GLOBAL_KEYS = 6
_GLOBAL_ARGS = 12

# KEYS: 1 due, 2 all-schedules set, 3..6 by-status sets (STATUS_ORDER), then each op's keys.
# ARGV: 1 lock token, 2 schedule id prefix, 3 now ms, 4 history max, 5 history TTL,
#   6 live-event channel, 7 the live event's ``event``, 8 allowed from ('*' any), 9 to,
#   10 note, 11 status_at, 12 the event of a deactivation ('' none); then each op: its
#   letter, the config id, and
#   A activate:   body, due score, keep overdue ('1'/'0'), has an old list ('1'/'0'),
#                 metadata JSON, event JSON;  KEYS lock, state, history, data, list[, old list]
#   D deactivate: number of lists;  KEYS lock, state, history, data, lists...
#   U unregister: number of lists;  KEYS lock, data, lists...
#   R release:    KEYS lock
#   F activate a config nobody holds and nothing is registered for, without its lock (the
#                 check and the change are one script): body, due score, metadata JSON,
#                 event JSON;  KEYS lock, state, history, data, list
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
local token, sid_prefix, now_ms = ARGV[1], ARGV[2], ARGV[3]
local allowed, to, note, at, off_event = ARGV[8], ARGV[9], ARGV[10], ARGV[11], ARGV[12]
local g = state_keys(KEYS, 2, ARGV[4], ARGV[5], ARGV[6], ARGV[7])
local due = KEYS[1]
local out = {}
local function answer(code, cur)
  out[#out + 1] = code
  out[#out + 1] = cur
end
local a, k = _GLOBAL_ARGS, _GLOBAL_KEYS
while a < #ARGV do
  local op, cid = ARGV[a + 1], ARGV[a + 2]
  local lock = KEYS[k + 1]
  local mine = op ~= 'F' and holds_lock(lock, token)
  local sid = sid_prefix .. cid
  if op == 'F' then
    local hash, history, data, list = KEYS[k + 2], KEYS[k + 3], KEYS[k + 4], KEYS[k + 5]
    local cur = current_status(hash)
    local code = 1
    if not lock_free(lock) then
      code = 2
    elseif not allows(allowed, cur) then
      code = 0
    elseif registered(data) then
      code = 3
    else
      register(data, ARGV[a + 3], sid, list, false, due, cid, ARGV[a + 4], '0', now_ms)
      set_status(g, hash, history, cid, to, note, at, ARGV[a + 6], ARGV[a + 5])
    end
    answer(code, cur)
    a = a + 6
    k = k + 5
  elseif op == 'A' then
    local hash, history, data, list = KEYS[k + 2], KEYS[k + 3], KEYS[k + 4], KEYS[k + 5]
    local old_list = false
    if ARGV[a + 6] == '1' then old_list = KEYS[k + 6] end
    local cur = current_status(hash)
    local ok = mine and allows(allowed, cur)
    if ok then
      register(data, ARGV[a + 3], sid, list, old_list, due, cid, ARGV[a + 4], ARGV[a + 5],
        now_ms)
      set_status(g, hash, history, cid, to, note, at, ARGV[a + 8], ARGV[a + 7])
    end
    answer(ok and 1 or 0, cur)
    a = a + 8
    k = k + 5
    if old_list then k = k + 1 end
  elseif op == 'D' then
    local hash, history, data = KEYS[k + 2], KEYS[k + 3], KEYS[k + 4]
    local n = tonumber(ARGV[a + 3])
    local cur = current_status(hash)
    local ok = mine and allows(allowed, cur)
    if ok then
      set_status(g, hash, history, cid, to, note, at, off_event, '')
      unregister(data, sid, {unpack(KEYS, k + 5, k + 4 + n)}, due, cid)
    end
    answer(ok and 1 or 0, cur)
    a = a + 3
    k = k + 4 + n
  elseif op == 'U' then
    local n = tonumber(ARGV[a + 3])
    if mine then
      unregister(KEYS[k + 2], sid, {unpack(KEYS, k + 3, k + 2 + n)}, due, cid)
    end
    a = a + 3
    k = k + 2 + n
  else
    a = a + 2
    k = k + 1
  end
  if mine then release_held(lock) end
end
return out
""".replace("_GLOBAL_ARGS", str(_GLOBAL_ARGS)).replace("_GLOBAL_KEYS", str(_GLOBAL_KEYS))
)


def _text(value: Any) -> str | None:
    """A reply as text, whether the client decodes replies or not."""
    return value.decode() if isinstance(value, bytes) else value


@dataclass
class Ops:
    """The per-config part of one ``APPLY``: its ops' arguments and keys, in order."""

    args: list[Any] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    results: int = 0  # ops that answer (A and D)


@dataclass(frozen=True, slots=True)
class Common:
    """What every op of one ``APPLY`` shares."""

    allowed: str  # '*' or comma-separated statuses
    to: ScheduleStatus
    event: Event | None
    note: str | None
    at: str  # status_at (format_instant)
    now_ms: int
    off_event: str = ""  # the event JSON of a deactivation


class BulkScript:
    """``BEGIN`` and ``APPLY`` of one client, over the owners' keys."""

    def __init__(
        self,
        redis: Redis,
        locks: ScheduleLocks,
        state: ScheduleStateService,
        core: SchedulerCoreService,
    ) -> None:
        self.redis = redis
        self.locks = locks
        self.state = state
        self.core = core
        self._begin = RawScript(redis, BEGIN)
        self._apply = RawScript(redis, APPLY)
        self._create = RawScript(redis, CREATE)

    async def create(self, items: Sequence[tuple[int, str]], at: datetime) -> list[bool]:
        """Create the state of configs (config id, metadata JSON): ``inactive`` with a
        ``created`` event, as ``ScheduleStateService.create``; per config: created (False:
        it had state, left alone)."""
        if not items:
            return []
        channel, live = self.state.live_event(Event.CREATED)
        keys = list(self.state.index_keys())
        args: list[Any] = [
            format_instant(at),
            self.state.history_max,
            self.state.history_ttl_seconds,
            channel,
            live,
            self.state.history_json(Event.CREATED, at, None, {}),
        ]
        for config_id, metadata in items:
            keys += (self.state.status_key(config_id), self.state.event_log(config_id))
            args += (config_id, metadata)
        return [bool(made) for made in await self._create(keys, args)]

    async def begin(
        self, config_ids: Sequence[int], token: str
    ) -> list[tuple[bool, str | None, str | None]]:
        """Take the free locks of ``config_ids`` with ``token``; per config: taken, its
        status (None without state) and its stored registration (None if none), both read
        only if taken."""
        keys: list[str] = []
        for cid in config_ids:
            keys += (self.locks.key(cid), self.state.status_key(cid), self.core.data_key(cid))
        reply = await self._begin(keys, [token, self.locks.lease_ms])
        return [
            (bool(reply[i]), _text(reply[i + 1]), _text(reply[i + 2]))
            for i in range(0, len(reply), 3)
        ]

    def activate(
        self,
        ops: Ops,
        config_id: int,
        body: str,
        score: int,
        keep_overdue: bool,
        list_key: str,
        old_list: str | None,
        metadata: str,
        event: str,
    ) -> None:
        ops.args += (
            "A",
            config_id,
            body,
            score,
            "1" if keep_overdue else "0",
            "0" if old_list is None else "1",
            metadata,
            event,
        )
        ops.keys += (*self._config_keys(config_id), list_key)
        if old_list is not None:
            ops.keys.append(old_list)
        ops.results += 1

    def _config_keys(self, config_id: int) -> tuple[str, str, str, str]:
        """The keys an A, D or F op names first: lock, state hash, history, data."""
        return (
            self.locks.key(config_id),
            self.state.status_key(config_id),
            self.state.event_log(config_id),
            self.core.data_key(config_id),
        )

    def deactivate(self, ops: Ops, config_id: int, lists: Sequence[str]) -> None:
        ops.args += ("D", config_id, len(lists))
        ops.keys += (*self._config_keys(config_id), *lists)
        ops.results += 1

    def unregister(self, ops: Ops, config_id: int, lists: Sequence[str]) -> None:
        ops.args += ("U", config_id, len(lists))
        ops.keys += (self.locks.key(config_id), self.core.data_key(config_id), *lists)

    def activate_fresh(
        self,
        ops: Ops,
        config_id: int,
        body: str,
        score: int,
        list_key: str,
        metadata: str,
        event: str,
    ) -> None:
        ops.args += ("F", config_id, body, score, metadata, event)
        ops.keys += (*self._config_keys(config_id), list_key)
        ops.results += 1

    def release(self, ops: Ops, config_id: int) -> None:
        ops.args += ("R", config_id)
        ops.keys.append(self.locks.key(config_id))

    async def apply(self, ops: Ops, token: str, common: Common) -> list[tuple[int, str]]:
        """Run ``ops``; per A, D and F op, in order: its code (``APPLIED``, ``NOT_ALLOWED``,
        ``BUSY``, ``REGISTERED``) and the status before (or the current one, unchanged,
        when not applied)."""
        if not ops.args:
            return []
        channel, live = self.state.live_event(common.event)
        keys = [self.core.due_key, *self.state.index_keys(), *ops.keys]
        args = [
            token,
            SCHEDULE_ID_PREFIX,
            common.now_ms,
            self.state.history_max,
            self.state.history_ttl_seconds,
            channel,
            live,
            common.allowed,
            str(common.to),
            common.note or "",
            common.at,
            common.off_event,
            *ops.args,
        ]
        assert len(keys) - len(ops.keys) == _GLOBAL_KEYS
        assert len(args) - len(ops.args) == _GLOBAL_ARGS
        reply = await self._apply(keys, args)
        return [(int(reply[i]), _text(reply[i + 1]) or "") for i in range(0, len(reply), 2)]
