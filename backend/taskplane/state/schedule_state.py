"""ScheduleStateService: the single source of truth for schedule status (Redis).

Per config (``Keys.schedule(cid)``, a hash): ``status``, ``note``, ``status_at``,
``paused_until`` (while a pause ends by itself: ``state/pause_timer.py``),
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
``scheduling/bulk/lua.py``), the service hands out its keys (``status_key``,
``event_log``, ``index_keys``), the live-event channel and payload (``live_event``) and its
Lua part (``scripts.LUA``): the functions its ``TRANSITION`` and ``CREATE`` scripts are
built from.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from redis.asyncio import Redis

from taskplane.enums import Event, ScheduleStatus
from taskplane.state.history import HistoryEvent, format_instant, read_events
from taskplane.state.keys import Keys
from taskplane.state.pause_timer import pause_args
from taskplane.state.schedule_records import (
    ExecutionOutcome,
    ScheduleState,
    Summary,
    Transition,
    TransitionResult,
    decode_state,
)
from taskplane.state.scripts import STATUS_ORDER, Scripts

if TYPE_CHECKING:
    from taskplane.settings import Settings


log = logging.getLogger(__name__)


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
            self.keys.paused_until,
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
                *self.live_event(Event.CREATED),
            ],
        )
        return bool(int(result[0]))

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
        paused_until: datetime | None = None,
        expect_paused_until: datetime | None = None,
    ) -> TransitionResult:
        """Set the status (with note, time, optional new metadata) and record ``event``, all
        in one script, only if the current status is in ``allowed_from`` (None = any) and,
        with ``expect_paused_until``, the stored pause ends at that instant. Every change
        cancels a pending pause timer, except one to ``paused`` with ``paused_until``,
        which sets it (``state/pause_timer.py``)."""
        change = Transition(
            config_id,
            to,
            allowed_from,
            event,
            note,
            details,
            metadata,
            at,
            paused_until,
            expect_paused_until,
        )
        result = await self.scripts.transition(
            keys=self._status_keys(config_id), args=self._transition_args(change)
        )
        return TransitionResult(changed=bool(int(result[0])), previous=ScheduleStatus(result[1]))

    async def transition_many(self, changes: Sequence[Transition]) -> list[TransitionResult]:
        """``transition`` for many configs: one pipeline of the same script (each change
        atomic on its own, with its live event)."""
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
        return [
            TransitionResult(changed=bool(int(r[0])), previous=ScheduleStatus(r[1]))
            for r in replies
        ]

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
            *self.live_event(c.event),
            *pause_args(c.paused_until),
            "" if c.expect_paused_until is None else pause_args(c.expect_paused_until)[0],
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

    async def set_note(self, config_id: int, note: str | None) -> bool:
        """Replace the note kept with the status, leaving the status, its time and the
        history alone (schedules as code: a file's note for an unchanged status); False if
        the config has no state."""
        result = await self.scripts.note(keys=[self.keys.schedule(config_id)], args=[note or ""])
        return bool(int(result))

    async def delete(self, config_id: int) -> None:
        """Remove the state, counters and history of a config (one MULTI)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(self.keys.schedule(config_id), self.keys.history(config_id))
            pipe.zrem(self.keys.paused_until, config_id)
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
        for late in sorted({o.config_id for o, r in zip(outcomes, results, strict=True) if not r}):
            log.info("counter update of a deleted config dropped", extra={"config_id": late})
        return sum(int(r) for r in results)

    # --- for the scripts and pipelines of others --------------------------------------

    def status_key(self, config_id: int) -> str:
        """A config's state hash, for a composing script (``scripts.LUA``)."""
        return self.keys.schedule(config_id)

    def index_keys(self) -> list[str]:
        """The all-schedules set, then the by-status sets in ``STATUS_ORDER`` (``scripts.LUA``)."""
        return [self.keys.all_schedules, *(self.keys.by_status(s) for s in STATUS_ORDER)]

    def pause_timer_key(self) -> str:
        """The pause timer's zset, for a composing script (``scripts.LUA``'s ``pause_timer``)."""
        return self.keys.paused_until

    def live_event(self, event: Event | None) -> tuple[str, str]:
        """The channel and the ``event`` of the live events a script publishes (``scripts.LUA``'s
        ``state_keys``: every schedule live event is published by the script of its change;
        '' for none)."""
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
        return ScheduleStatus.stored(raw) if raw else None

    async def statuses(self, config_ids: Sequence[int]) -> list[ScheduleStatus | None]:
        """The status of each config (None without state; an unknown one reads as
        ``error``, as in ``get``), in order: one script call, no hash decoded."""
        if not config_ids:
            return []
        raws: list[Any] = await self.scripts.statuses(
            keys=[self.keys.schedule(c) for c in config_ids]
        )
        return [None if r is None else ScheduleStatus.stored(r) for r in raws]

    async def history(
        self, config_id: int, *, limit: int = 50, offset: int = 0
    ) -> tuple[list[HistoryEvent], int]:
        """A page of events, newest first, and how many are kept in all."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.lrange(self.keys.history(config_id), offset, offset + max(limit, 1) - 1)
            pipe.llen(self.keys.history(config_id))
            raws, total = await pipe.execute()
        return read_events(raws) if limit > 0 else [], int(total)

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
