"""ScheduleStateService: the single source of truth for schedule status (Redis).

Per config (``Keys.schedule(cid)``, a hash): ``status``, ``note``, ``status_at``,
``metadata`` (JSON object), and the run counters ``runs``, ``successes``, ``failures``,
``consecutive_failures``, ``last_run_at``, ``last_success`` (``1``/``0``), ``last_task_id``.
Index sets ``Keys.by_status(status)`` and ``Keys.all_schedules`` hold config ids, so
summaries and filters never need KEYS. History ``Keys.history(cid)``: JSON events, newest
first, capped at ``history_max`` with a TTL of ``history_ttl_seconds`` (renewed per event).

Duties:
- a status change, its index sets and its history event are one Lua script (``scripts.py``);
  a transition whose ``from`` does not match changes nothing and reports the current status;
- a config without state is read as ``inactive`` by transitions (its state was lost);
- counters and late events never create state for a config that has none (deleted).

For a script that changes many configs together with other owners' data (the bulk path,
``scheduling/bulk_script.py``), the service hands out its keys (``status_key``,
``event_log``, ``index_keys``), the live-event channel and payload (``live_event``) and its
Lua part (``scripts.LUA``): the functions its ``TRANSITION`` and ``CREATE`` scripts are
built from.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from redis.asyncio import Redis

from taskplane.enums import Event, ScheduleStatus, Trigger
from taskplane.state import events as live_events
from taskplane.state import read_script
from taskplane.state.keys import Keys
from taskplane.state.scripts import STATUS_ORDER, Scripts

if TYPE_CHECKING:
    from taskplane.settings import Settings


def format_instant(moment: datetime) -> str:
    """Fixed-width ISO UTC (always microseconds): such strings compare as the times do."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _parse_instant(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class HistoryEvent:
    event: str
    timestamp: datetime
    note: str | None
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(
            {
                "event": self.event,
                "timestamp": format_instant(self.timestamp),
                "note": self.note,
                "details": self.details,
            },
            separators=(",", ":"),
            default=str,
        )

    @classmethod
    def from_json(cls, raw: str) -> HistoryEvent:
        data = json.loads(raw)
        details = data.get("details")
        return cls(
            event=str(data.get("event", "")),
            timestamp=_parse_instant(data.get("timestamp")) or datetime.fromtimestamp(0, UTC),
            note=data.get("note"),
            details=details if isinstance(details, dict) else {},
        )


@dataclass(frozen=True, slots=True)
class ScheduleState:
    """One config's state as stored."""

    config_id: int
    status: ScheduleStatus
    note: str | None
    status_at: datetime | None
    metadata: dict[str, Any]
    runs: int = 0
    successes: int = 0
    failures: int = 0
    consecutive_failures: int = 0
    last_run_at: datetime | None = None
    last_success: bool | None = None
    last_task_id: str | None = None


@dataclass(frozen=True, slots=True)
class Transition:
    """One status change: to ``to`` if the status is in ``allowed_from`` (None: any), with
    ``event`` (and its note / details) and, optionally, new metadata."""

    config_id: int
    to: ScheduleStatus
    allowed_from: Collection[ScheduleStatus] | None
    event: Event | None
    note: str | None = None
    details: Mapping[str, Any] | None = None
    metadata: Mapping[str, Any] | None = None
    at: datetime | None = None


@dataclass(frozen=True, slots=True)
class TransitionResult:
    """``changed``: the script applied; ``previous``: the status before (or the current
    status, unchanged, when ``changed`` is false)."""

    changed: bool
    previous: ScheduleStatus


@dataclass(frozen=True, slots=True)
class ExecutionOutcome:
    """One finished execution, as the worker's recorder reports it."""

    config_id: int
    task_id: str
    is_success: bool
    finished_at: datetime
    attempt: int = 1
    trigger: Trigger = Trigger.SCHEDULED


@dataclass(frozen=True, slots=True)
class Summary:
    total: int
    active: int
    paused: int
    inactive: int
    error: int

    def as_dict(self) -> dict[str, int]:
        return {
            "total": self.total,
            "active": self.active,
            "paused": self.paused,
            "inactive": self.inactive,
            "error": self.error,
        }


def _int(value: str | None) -> int:
    try:
        return int(value) if value else 0
    except ValueError:
        return 0


def _status(value: str) -> ScheduleStatus:
    """A stored status; one this version does not know reads as ``error``."""
    try:
        return ScheduleStatus(value)
    except ValueError:
        return ScheduleStatus.ERROR


def decode_state(config_id: int, raw: Mapping[str, str]) -> ScheduleState | None:
    """A state hash as read (the pools decode replies: ``resources.make_redis``); None
    without status."""
    if "status" not in raw:
        return None
    status = _status(raw["status"])
    try:
        metadata = json.loads(raw.get("metadata") or "{}")
    except ValueError:
        metadata = {}
    last_success = raw.get("last_success")
    return ScheduleState(
        config_id=config_id,
        status=status,
        note=raw.get("note") or None,
        status_at=_parse_instant(raw.get("status_at")),
        metadata=metadata if isinstance(metadata, dict) else {},
        runs=_int(raw.get("runs")),
        successes=_int(raw.get("successes")),
        failures=_int(raw.get("failures")),
        consecutive_failures=_int(raw.get("consecutive_failures")),
        last_run_at=_parse_instant(raw.get("last_run_at")),
        last_success=None if last_success in (None, "") else last_success == "1",
        last_task_id=raw.get("last_task_id") or None,
    )


STATES_REMEMBERED = 8192
_states_by_hash: dict[tuple[Any, ...], ScheduleState | None] = {}


def _remembered_state(config_id: int, flat: Sequence[str]) -> ScheduleState | None:
    """``decode_state`` of a hash read as HGETALL's flat field / value list, remembered
    while the hash reads the same (pages are read again and again; a stopped config's hash
    does not change). The state is shared: read it only (its metadata too)."""
    key = (config_id, *flat)
    try:
        return _states_by_hash[key]
    except KeyError:
        pass
    items = iter(flat)
    state = decode_state(config_id, dict(zip(items, items, strict=True)))
    while len(_states_by_hash) >= STATES_REMEMBERED:
        del _states_by_hash[next(iter(_states_by_hash))]
    _states_by_hash[key] = state
    return state


class ScheduleStateService:
    """Status, note, metadata, history and counters of every config, in Redis."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        *,
        history_max: int = 200,
        history_ttl_seconds: int = 30 * 86400,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.history_max = history_max
        self.history_ttl_seconds = history_ttl_seconds
        self.scripts = Scripts(redis)

    @classmethod
    def from_settings(cls, redis: Redis, keys: Keys, settings: Settings) -> ScheduleStateService:
        """The service as every process builds it: history capped and kept as configured."""
        return cls(
            redis,
            keys,
            history_max=settings.history_max,
            history_ttl_seconds=settings.history_ttl_seconds,
        )

    def _status_keys(self, config_id: int) -> list[str]:
        return [
            self.keys.schedule(config_id),
            self.keys.history(config_id),
            self.keys.all_schedules,
            *(self.keys.by_status(s) for s in STATUS_ORDER),
        ]

    # --- writes -----------------------------------------------------------------------

    async def create(
        self,
        config_id: int,
        metadata: Mapping[str, Any],
        *,
        note: str | None = None,
        details: Mapping[str, Any] | None = None,
        at: datetime | None = None,
    ) -> bool:
        """State ``inactive`` with a ``created`` event; False (no change) if state exists."""
        at = at or datetime.now(UTC)
        event = HistoryEvent(str(Event.CREATED), at, note, dict(details or {}))
        result = await self.scripts.create(
            keys=self._status_keys(config_id),
            args=[
                config_id,
                note or "",
                format_instant(at),
                event.to_json(),
                self.history_max,
                self.history_ttl_seconds,
                json.dumps(dict(metadata), separators=(",", ":"), default=str),
            ],
        )
        created = bool(int(result[0]))
        if created:
            await live_events.publish(
                self.redis,
                self.keys.events,
                [
                    live_events.schedule_event(
                        config_id, str(ScheduleStatus.INACTIVE), str(Event.CREATED)
                    )
                ],
            )
        return created

    async def transition(
        self,
        config_id: int,
        to: ScheduleStatus,
        *,
        allowed_from: Collection[ScheduleStatus] | None,
        event: Event | None,
        note: str | None = None,
        details: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
        at: datetime | None = None,
    ) -> TransitionResult:
        """Set the status (with note, time, optional new metadata) and record ``event``, all
        in one script, only if the current status is in ``allowed_from`` (None = any)."""
        change = Transition(config_id, to, allowed_from, event, note, details, metadata, at)
        result = await self.scripts.transition(
            keys=self._status_keys(config_id), args=self._transition_args(change)
        )
        changed = TransitionResult(changed=bool(int(result[0])), previous=ScheduleStatus(result[1]))
        if changed.changed:
            await live_events.publish(
                self.redis,
                self.keys.events,
                [live_events.schedule_event(config_id, str(to), str(event) if event else None)],
            )
        return changed

    async def transition_many(self, changes: Sequence[Transition]) -> list[TransitionResult]:
        """``transition`` for many configs: one pipeline of the same script (each change
        atomic on its own), then one publish of the changes made."""
        if not changes:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for c in changes:
                await self.scripts.transition(
                    keys=self._status_keys(c.config_id),
                    args=self._transition_args(c),
                    client=pipe,
                )
            replies = await pipe.execute()
        results = [
            TransitionResult(changed=bool(int(r[0])), previous=ScheduleStatus(r[1]))
            for r in replies
        ]
        await live_events.publish(
            self.redis,
            self.keys.events,
            [
                live_events.schedule_event(
                    c.config_id, str(c.to), str(c.event) if c.event else None
                )
                for c, r in zip(changes, results, strict=True)
                if r.changed
            ],
        )
        return results

    def _transition_args(self, c: Transition) -> list[Any]:
        at = c.at or datetime.now(UTC)
        payload = (
            HistoryEvent(str(c.event), at, c.note, dict(c.details or {})).to_json()
            if c.event
            else ""
        )
        return [
            c.config_id,
            "*" if c.allowed_from is None else ",".join(str(s) for s in c.allowed_from),
            str(c.to),
            c.note or "",
            format_instant(at),
            payload,
            self.history_max,
            self.history_ttl_seconds,
            ""
            if c.metadata is None
            else json.dumps(dict(c.metadata), separators=(",", ":"), default=str),
        ]

    async def record_event(
        self,
        config_id: int,
        event: Event,
        *,
        note: str | None = None,
        details: Mapping[str, Any] | None = None,
        at: datetime | None = None,
    ) -> bool:
        """Append one event (no status change); False if the config has no state."""
        payload = HistoryEvent(str(event), at or datetime.now(UTC), note, dict(details or {}))
        result = await self.scripts.event(
            keys=[self.keys.schedule(config_id), self.keys.history(config_id)],
            args=[payload.to_json(), self.history_max, self.history_ttl_seconds],
        )
        return bool(int(result))

    async def record_events(
        self, events: Iterable[tuple[int, Event, str | None, Mapping[str, Any]]]
    ) -> None:
        """Append many events (config id, event, note, details) in one pipeline."""
        at = datetime.now(UTC)
        async with self.redis.pipeline(transaction=False) as pipe:
            count = 0
            for config_id, event, note, details in events:
                payload = HistoryEvent(str(event), at, note, dict(details))
                await self.scripts.event(
                    keys=[self.keys.schedule(config_id), self.keys.history(config_id)],
                    args=[payload.to_json(), self.history_max, self.history_ttl_seconds],
                    client=pipe,
                )
                count += 1
            if count:
                await pipe.execute()

    async def update_metadata(
        self,
        config_id: int,
        metadata: Mapping[str, Any],
        *,
        event: Event | None = Event.UPDATED,
        note: str | None = None,
        details: Mapping[str, Any] | None = None,
        at: datetime | None = None,
    ) -> bool:
        """Replace the metadata and record ``event`` in one script; False (nothing changed)
        if the config has no state."""
        payload = (
            HistoryEvent(str(event), at or datetime.now(UTC), note, dict(details or {})).to_json()
            if event
            else ""
        )
        result = await self.scripts.metadata(
            keys=[self.keys.schedule(config_id), self.keys.history(config_id)],
            args=[
                json.dumps(dict(metadata), separators=(",", ":"), default=str),
                payload,
                self.history_max,
                self.history_ttl_seconds,
            ],
        )
        return bool(int(result))

    async def delete(self, config_id: int) -> None:
        """Remove the state, counters and history of a config (one MULTI)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(self.keys.schedule(config_id), self.keys.history(config_id))
            pipe.srem(self.keys.all_schedules, config_id)
            for status in STATUS_ORDER:
                pipe.srem(self.keys.by_status(status), config_id)
            await pipe.execute()

    async def record_executions(self, outcomes: Sequence[ExecutionOutcome]) -> int:
        """Count finished executions (one pipeline); returns how many configs had state."""
        if not outcomes:
            return 0
        async with self.redis.pipeline(transaction=False) as pipe:
            for o in outcomes:
                await self.scripts.record_execution(
                    keys=[self.keys.schedule(o.config_id)],
                    args=["1" if o.is_success else "0", format_instant(o.finished_at), o.task_id],
                    client=pipe,
                )
            results = await pipe.execute()
        return sum(int(r) for r in results)

    # --- for the scripts and pipelines of others --------------------------------------

    def status_key(self, config_id: int) -> str:
        """A config's state hash, for a composing script (``scripts.LUA``)."""
        return self.keys.schedule(config_id)

    def index_keys(self) -> list[str]:
        """The all-schedules set, then the by-status sets in ``STATUS_ORDER`` (``scripts.LUA``)."""
        return [self.keys.all_schedules, *(self.keys.by_status(s) for s in STATUS_ORDER)]

    def live_event(self, event: Event | None) -> tuple[str, str]:
        """The channel and the ``event`` of the live events a composing script publishes
        (``scripts.LUA``'s ``state_keys``; '' for none)."""
        return self.keys.events, str(event) if event else ""

    def history_json(
        self, event: Event, at: datetime, note: str | None, details: Mapping[str, Any]
    ) -> str:
        """An event as its history list holds it."""
        return HistoryEvent(str(event), at, note, dict(details)).to_json()

    def event_log(self, config_id: int) -> str:
        """A config's history list, for a script that composes ``scripts.PUSH_EVENT`` (the
        engine's fire script) with ``history_max`` and ``history_ttl_seconds``."""
        return self.keys.history(config_id)

    def read_into(self, pipe: Any, config_id: int, *, history: int = 0) -> None:
        """Queue the reads of one config's state (and its ``history`` newest events) on
        ``pipe`` (one reply, two with history; ``state_of`` decodes them): the read model
        asks several owners in one round trip."""
        pipe.hgetall(self.keys.schedule(config_id))
        if history > 0:
            pipe.lrange(self.keys.history(config_id), 0, history - 1)

    @staticmethod
    def state_of(
        config_id: int, replies: Sequence[Any], *, history: int = 0
    ) -> tuple[ScheduleState | None, list[HistoryEvent]]:
        state = decode_state(config_id, replies[0])
        events: list[HistoryEvent] = []
        for raw in replies[1] if history > 0 else []:
            try:
                events.append(HistoryEvent.from_json(raw))
            except ValueError:
                continue
        return state, events[: max(history, 0)]

    def read_many_into(self, pipe: Any, config_ids: Sequence[int], *, history: int = 0) -> None:
        """``read_into`` for many configs as ONE command (``read_script``: one reply for
        the page, decoded by ``states_of``). Redis without the script answers NOSCRIPT:
        ``load_read_script``, then read again."""
        keys: list[str] = []
        for config_id in config_ids:
            keys.append(self.keys.schedule(config_id))
            if history > 0:
                keys.append(self.keys.history(config_id))
        pipe.evalsha(read_script.SHA, len(keys), *keys, max(history, 0))

    @staticmethod
    def states_of(
        config_ids: Sequence[int], reply: Sequence[Any], *, history: int = 0
    ) -> list[tuple[ScheduleState | None, list[HistoryEvent]]]:
        """The reply of ``read_many_into``, one (state, events) per config, in order. A
        state is decoded once while its hash reads the same (``_remembered_state``)."""
        width = 2 if history > 0 else 1
        out = []
        for i, config_id in enumerate(config_ids):
            state = _remembered_state(config_id, reply[width * i])
            events: list[HistoryEvent] = []
            if history > 0:
                events = ScheduleStateService.state_of(
                    config_id, [{}, reply[width * i + 1]], history=history
                )[1]
            out.append((state, events))
        return out

    async def load_read_script(self) -> None:
        await self.redis.script_load(read_script.TEXT)

    # --- reads ------------------------------------------------------------------------

    async def get(self, config_id: int) -> ScheduleState | None:
        raw: Any = await self.redis.hgetall(self.keys.schedule(config_id))
        return decode_state(config_id, raw)

    async def get_many(self, config_ids: Iterable[int]) -> dict[int, ScheduleState]:
        """States of many configs in one pipeline; configs without state are left out."""
        ids = list(dict.fromkeys(config_ids))
        if not ids:
            return {}
        async with self.redis.pipeline(transaction=False) as pipe:
            for cid in ids:
                pipe.hgetall(self.keys.schedule(cid))
            raws = await pipe.execute()
        out: dict[int, ScheduleState] = {}
        for cid, raw in zip(ids, raws, strict=True):
            state = decode_state(cid, raw)
            if state is not None:
                out[cid] = state
        return out

    async def status(self, config_id: int) -> ScheduleStatus | None:
        raw: Any = await self.redis.hget(self.keys.schedule(config_id), "status")
        return ScheduleStatus(raw) if raw else None

    async def statuses(self, config_ids: Sequence[int]) -> list[ScheduleStatus | None]:
        """The status of each config (None without state; an unknown one reads as
        ``error``, as in ``get``), in order: one script call, no hash decoded."""
        if not config_ids:
            return []
        raws: list[Any] = await self.scripts.statuses(
            keys=[self.keys.schedule(c) for c in config_ids]
        )
        return [None if r is None else _status(r) for r in raws]

    async def history(
        self, config_id: int, *, limit: int = 50, offset: int = 0
    ) -> tuple[list[HistoryEvent], int]:
        """A page of events, newest first, and how many are kept in all."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.lrange(self.keys.history(config_id), offset, offset + max(limit, 1) - 1)
            pipe.llen(self.keys.history(config_id))
            raws, total = await pipe.execute()
        events: list[HistoryEvent] = []
        for raw in raws if limit > 0 else []:
            try:
                events.append(HistoryEvent.from_json(raw))
            except ValueError:
                continue
        return events, int(total)

    async def recent_history_many(
        self, config_ids: Iterable[int], limit: int = 10
    ) -> dict[int, list[HistoryEvent]]:
        ids = list(dict.fromkeys(config_ids))
        if not ids:
            return {}
        async with self.redis.pipeline(transaction=False) as pipe:
            for cid in ids:
                pipe.lrange(self.keys.history(cid), 0, max(limit, 1) - 1)
            raws = await pipe.execute()
        return {
            cid: [HistoryEvent.from_json(r) for r in rows]
            for cid, rows in zip(ids, raws, strict=True)
        }

    async def summary(self) -> Summary:
        """Counts by status from the index sets (SCARD each; no scan)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.scard(self.keys.all_schedules)
            for status in STATUS_ORDER:
                pipe.scard(self.keys.by_status(status))
            total, active, paused, inactive, error = await pipe.execute()
        return Summary(int(total), int(active), int(paused), int(inactive), int(error))

    async def ids_with_status(self, status: ScheduleStatus) -> set[int]:
        return {int(m) for m in await self.redis.smembers(self.keys.by_status(status))}

    async def all_ids(self) -> set[int]:
        return {int(m) for m in await self.redis.smembers(self.keys.all_schedules)}
