"""AlertStore: the one owner of the alert keys in Redis (docs/redis.md, "alerts:").

- Which configs alert, and how (``alerts:configs``): written by ``ConfigService`` on create,
  update and delete, so the detector examines only alerting configs, never every schedule.
- The late check (``alerts:late-checks`` zset: when to look next; ``alerts:watched-due``:
  the due time being watched): a check reads only the entries whose time has come.
- Start marks (``alerts:started``): the worker's claim script writes a run's mark for
  alerting configs only (``claim_keys`` hands it the keys).
- Incidents: ``change`` opens or resolves one in ONE script: compare-and-set of the open
  incident, the incident log, the ``alert`` history event and the webhook outbox together,
  so two detectors never open (or resolve) one twice and no incident lacks its event or
  its deliveries.
- The outbox of webhook deliveries (``alerts:outbox`` + ``alerts:outbox-due``), and the
  lease of the process that runs the alert loop.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from redis.asyncio import Redis

from taskplane.actors import SCHEDULER
from taskplane.alerts.incidents import AlertSettings, Incident, IncidentState, Kind
from taskplane.enums import Event
from taskplane.pages import Page
from taskplane.state import leases
from taskplane.state.keys import Keys
from taskplane.state.schedule_state import ScheduleStateService
from taskplane.state.scripts import PUSH_EVENT

LOG_KEPT = 5_000  # incidents kept (oldest dropped first); an open one stays in alerts:open

# KEYS: 1 open hash, 2 incidents hash, 3 log zset, 4 outbox hash, 5 outbox-due zset,
# 6 the config's state hash, 7 its history list. ARGV: 1 open field, 2 the open incident
# expected ('' = none may be open), 3 the new open incident ('' = none: resolved), 4 id,
# 5 incident JSON, 6 history event JSON, 7 history max, 8 history TTL, 9 now ms, 10 log
# kept, then pairs (outbox field, delivery JSON). 1 = changed, 0 = someone else did it.
_CHANGE = (
    PUSH_EVENT
    + """
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if ARGV[2] == '' then
  if cur then return 0 end
elseif cur ~= ARGV[2] then
  return 0
end
if ARGV[3] == '' then
  redis.call('HDEL', KEYS[1], ARGV[1])
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
end
redis.call('HSET', KEYS[2], ARGV[4], ARGV[5])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[4])
local excess = redis.call('ZCARD', KEYS[3]) - tonumber(ARGV[10])
if excess > 0 then
  for _, old in ipairs(redis.call('ZRANGE', KEYS[3], 0, excess - 1)) do
    redis.call('HDEL', KEYS[2], old)
  end
  redis.call('ZREMRANGEBYRANK', KEYS[3], 0, excess - 1)
end
if redis.call('EXISTS', KEYS[6]) == 1 then
  push_event(KEYS[7], ARGV[6], ARGV[7], ARGV[8])
end
for i = 11, #ARGV, 2 do
  redis.call('HSET', KEYS[4], ARGV[i], ARGV[i + 1])
  redis.call('ZADD', KEYS[5], ARGV[9], ARGV[i])
end
return 1
"""
)

# KEYS: 1 alerting configs hash, 2 start marks hash. ARGV: 1 config id, 2 mark ms. The
# worker's claim script composes the same lines (``MARK_START``); here for tests and tools.
MARK_START = """
local function mark_start(configs, marks, cid, mark)
  if redis.call('HEXISTS', configs, cid) == 1 then
    local cur = tonumber(redis.call('HGET', marks, cid) or '0')
    if tonumber(mark) > cur then redis.call('HSET', marks, cid, mark) end
  end
end
"""
"""A Lua function for the worker's claim script: keep the latest start mark of an alerting
config (a scheduled run's due time, else its start, in epoch ms); nothing for the others."""


def claim_keys(keys: Keys) -> list[str]:
    """The alerting configs hash and the start marks hash, for a script composing
    ``MARK_START`` (the worker's claim script)."""
    return [keys.alert_configs, keys.alert_started]


@dataclass(frozen=True, slots=True)
class Delivery:
    """One webhook POST waiting in the outbox: to the ``url_index``-th URL of the settings
    (the URL itself, possibly holding a token, is never stored)."""

    incident_id: int
    state: str
    url_index: int
    body: str
    first_ms: int
    attempts: int = 0
    warned: bool = False

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> Delivery:
        return cls(**json.loads(raw))

    def field(self) -> str:
        return f"{self.incident_id}:{self.state}:{self.url_index}"


class AlertStore:
    """Reads and atomic writes of the alert keys (see the module doc)."""

    def __init__(self, redis: Redis, keys: Keys, state: ScheduleStateService) -> None:
        self.redis = redis
        self.keys = keys
        self.state = state
        self._change = redis.register_script(_CHANGE)
        self._acquire = redis.register_script(leases.ACQUIRE_OR_RENEW)
        self._release = redis.register_script(leases.RELEASE)

    # --- which configs alert ------------------------------------------------------------

    async def configure(
        self, config_id: int, settings: AlertSettings, *, watch_due_ms: int | None, now_ms: int
    ) -> None:
        """Store a config's alert settings (or forget them when none is set) and restart its
        late check from ``watch_due_ms`` (None: look again at ``now_ms``)."""
        if not settings.is_set:
            await self.forget(config_id)
            return
        cid = str(config_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.keys.alert_configs, cid, settings.to_json())
            if settings.late_after_seconds is None:
                pipe.zrem(self.keys.alert_late_checks, cid)
                pipe.hdel(self.keys.alert_watched_due, cid)
            else:
                self._arm(pipe, config_id, settings, watch_due_ms, now_ms)
            await pipe.execute()

    async def forget(self, config_id: int) -> None:
        """A deleted config, or one whose alerts were turned off (its open incidents are
        resolved by the next check)."""
        cid = str(config_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hdel(self.keys.alert_configs, cid)
            pipe.zrem(self.keys.alert_late_checks, cid)
            pipe.hdel(self.keys.alert_watched_due, cid)
            pipe.hdel(self.keys.alert_started, cid)
            await pipe.execute()

    async def settings(self) -> dict[int, AlertSettings]:
        """Every alerting config's settings (HGETALL: as many as configs alert)."""
        raw = await self.redis.hgetall(self.keys.alert_configs)
        return {int(k): AlertSettings.from_json(v) for k, v in raw.items()}

    async def settings_of(self, config_ids: Sequence[int]) -> dict[int, AlertSettings]:
        if not config_ids:
            return {}
        raws = await self.redis.hmget(self.keys.alert_configs, [str(c) for c in config_ids])
        return {
            cid: AlertSettings.from_json(raw)
            for cid, raw in zip(config_ids, raws, strict=True)
            if raw is not None
        }

    # --- the late check ---------------------------------------------------------------
    def _arm(
        self,
        pipe: Any,
        config_id: int,
        settings: AlertSettings,
        watch_due_ms: int | None,
        now_ms: int,
    ) -> None:
        cid = str(config_id)
        if watch_due_ms is None:
            pipe.hdel(self.keys.alert_watched_due, cid)
            pipe.zadd(self.keys.alert_late_checks, {cid: now_ms})
        else:
            late_ms = int(settings.late_after_seconds or 0) * 1000
            pipe.hset(self.keys.alert_watched_due, cid, watch_due_ms)
            pipe.zadd(self.keys.alert_late_checks, {cid: watch_due_ms + late_ms})

    async def rearm(
        self, items: Iterable[tuple[int, AlertSettings, int | None, int]], *, drop: Iterable[int]
    ) -> None:
        """Set the next late check of each (config id, settings, watched due ms or None,
        check at ms when None); stop watching ``drop`` (an open incident watches them)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for config_id, settings, due_ms, at_ms in items:
                self._arm(pipe, config_id, settings, due_ms, at_ms)
            for cid in drop:
                pipe.zrem(self.keys.alert_late_checks, str(cid))
                pipe.hdel(self.keys.alert_watched_due, str(cid))
            await pipe.execute()

    async def late_checks_due(self, now_ms: int, limit: int = 500) -> list[int]:
        """Configs whose late check has come (oldest first): what one pass examines."""
        found = await self.redis.zrangebyscore(
            self.keys.alert_late_checks, "-inf", now_ms, start=0, num=limit
        )
        return [int(str(c)) for c in found]

    async def marks(self, config_ids: Sequence[int]) -> tuple[dict[int, int], dict[int, int]]:
        """The watched due times and the start marks of these configs (epoch ms)."""
        if not config_ids:
            return {}, {}
        fields = [str(c) for c in config_ids]
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hmget(self.keys.alert_watched_due, fields)
            pipe.hmget(self.keys.alert_started, fields)
            watched, started = await pipe.execute()
        return _ints(config_ids, watched), _ints(config_ids, started)

    async def mark_start(self, config_id: int, mark_ms: int) -> None:
        """What the worker's claim script does for one run (tests and tools)."""
        script = MARK_START + "mark_start(KEYS[1], KEYS[2], ARGV[1], ARGV[2])"
        await self.redis.eval(script, 2, *claim_keys(self.keys), str(config_id), mark_ms)

    # --- incidents ----------------------------------------------------------------------
    async def next_id(self) -> int:
        return int(await self.redis.incr(self.keys.alert_next_id))

    async def open_incidents(self) -> list[Incident]:
        raw = await self.redis.hgetall(self.keys.alert_open)
        return sorted((Incident.from_json(v) for v in raw.values()), key=lambda i: i.id)

    async def change(
        self,
        incident: Incident,
        expected: Incident | None,
        deliveries: Sequence[Delivery],
        now_ms: int,
    ) -> bool:
        """Open ``incident`` (``expected`` None: only if none of its kind is open for its
        config) or resolve ``expected`` into it; with its history event and its webhook
        deliveries, in one script. False: another detector got there first."""
        event = self.state.history_json(
            Event.ALERT,
            incident.resolved_at or incident.opened_at,
            None,
            incident.event_details(),
            actor=SCHEDULER,  # what the system noticed itself, whichever process detected it
        )
        text = incident.to_json()
        args: list[Any] = [
            incident.field,
            expected.to_json() if expected is not None else "",
            text if incident.state is IncidentState.OPEN else "",
            incident.id,
            text,
            event,
            self.state.history_max,
            self.state.history_ttl_seconds,
            now_ms,
            LOG_KEPT,
        ]
        for d in deliveries:
            args += [d.field(), d.to_json()]
        keys = [
            self.keys.alert_open,
            self.keys.alert_incidents,
            self.keys.alert_log,
            self.keys.alert_outbox,
            self.keys.alert_outbox_due,
            self.state.status_key(incident.config_id),
            self.state.event_log(incident.config_id),
        ]
        return bool(await self._change(keys=keys, args=args))

    async def open_of(self, config_id: int) -> list[Incident]:
        """The open incidents of one config (explain's verdict)."""
        fields = [f"{config_id}:{k}" for k in Kind]
        raws = await self.redis.hmget(self.keys.alert_open, fields)
        return [Incident.from_json(r) for r in raws if r is not None]

    async def open_counts(self) -> dict[Kind, int]:
        counts = dict.fromkeys(Kind, 0)
        for field in await self.redis.hkeys(self.keys.alert_open):
            kind = str(field).rsplit(":", 1)[-1]
            if kind in counts:
                counts[Kind(kind)] += 1
        return counts

    async def page(
        self,
        *,
        state: IncidentState | None,
        config_id: int | None,
        after: int | None,
        limit: int,
        offset: int,
    ) -> Page[Incident]:
        """Incidents newest first, filtered; the log is capped (``LOG_KEPT``), so a page
        reads at most that many."""
        top = f"({after}" if after is not None else "+inf"
        ids = [str(i) for i in await self.redis.zrevrangebyscore(self.keys.alert_log, top, "-inf")]
        matching: list[Incident] = []
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            for raw in await self.redis.hmget(self.keys.alert_incidents, chunk):
                if raw is None:
                    continue
                incident = Incident.from_json(raw)
                if state is not None and incident.state is not state:
                    continue
                if config_id is not None and incident.config_id != config_id:
                    continue
                matching.append(incident)
        return Page(
            items=matching[offset : offset + limit],
            total=len(matching),
            limit=limit,
            offset=offset,
        )

    # --- the webhook outbox ---------------------------------------------------------------
    async def deliveries_due(self, now_ms: int, limit: int = 50) -> list[Delivery]:
        found_fields = await self.redis.zrangebyscore(
            self.keys.alert_outbox_due, "-inf", now_ms, start=0, num=limit
        )
        fields = [str(f) for f in found_fields]
        if not fields:
            return []
        raws = await self.redis.hmget(self.keys.alert_outbox, fields)
        found = [Delivery.from_json(r) for r in raws if r is not None]
        missing = [f for f, r in zip(fields, raws, strict=True) if r is None]
        if missing:
            await self.redis.zrem(self.keys.alert_outbox_due, *missing)
        return found

    async def delivered(self, delivery: Delivery) -> None:
        """Sent (or given up): out of the outbox, in one transaction."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hdel(self.keys.alert_outbox, delivery.field())
            pipe.zrem(self.keys.alert_outbox_due, delivery.field())
            await pipe.execute()

    async def retry_later(self, delivery: Delivery, at_ms: int) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.keys.alert_outbox, delivery.field(), delivery.to_json())
            pipe.zadd(self.keys.alert_outbox_due, {delivery.field(): at_ms})
            await pipe.execute()

    async def outbox_size(self) -> int:
        return int(await self.redis.zcard(self.keys.alert_outbox_due))

    # --- the alert loop's lease -----------------------------------------------------------
    async def lead(self, holder: str, lease_ms: int) -> bool:
        return bool(await self._acquire(keys=[self.keys.alert_lease], args=[holder, lease_ms]))

    async def step_down(self, holder: str) -> None:
        await self._release(keys=[self.keys.alert_lease], args=[holder])


def _ints(ids: Sequence[int], values: Sequence[Any]) -> dict[int, int]:
    return {cid: int(v) for cid, v in zip(ids, values, strict=True) if v is not None}


def with_attempt(delivery: Delivery, *, warned: bool) -> Delivery:
    return replace(delivery, attempts=delivery.attempts + 1, warned=warned)
