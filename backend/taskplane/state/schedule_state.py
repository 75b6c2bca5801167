"""ScheduleStateService: the single source of truth for schedule status (Redis).

Per config (``Keys.schedule(cid)``, a hash): ``status``, ``note``, ``status_at``,
``paused_until`` (while a pause ends by itself: ``state/pause_timer.py``),
the metadata (a JSON object given, kept a field per key: ``scripts.METADATA_LUA``, read by
``schedule_records.read_metadata``, so a typical hash stays Redis's compact listpack), and
the run counters ``runs``, ``successes``, ``failures``, ``consecutive_failures`` (absent
until counted), ``last_run_at``, ``last_success`` (``1``/``0``), ``last_task_id``.
Index sets ``Keys.by_status(status)`` and ``Keys.all_schedules`` hold config ids, so
summaries and filters never need KEYS. History ``Keys.history(cid)``: JSON events, newest
first, capped at ``history_max`` with a TTL of ``history_ttl_seconds`` (renewed per event).

Duties:
- a status change, its index sets and its history event are one Lua script (``scripts.py``);
  a transition whose ``from`` does not match changes nothing and reports the current status;
- a config without state is read as ``inactive`` by transitions (its state was lost);
- counters and late events never create state for a config that has none (deleted);
- every event names its ``actor`` (a required argument of every write), and an event an
  audited actor causes is also an audit entry (``state/audit.py``), written by the same
  script as the change.

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

from taskplane.actors import Actor
from taskplane.enums import Event, ScheduleStatus
from taskplane.state.audit import DELETED, AuditLog
from taskplane.state.history import HistoryEvent, format_instant
from taskplane.state.keys import Keys
from taskplane.state.pause_timer import pause_args
from taskplane.state.schedule_records import (
    ExecutionOutcome,
    Transition,
    TransitionResult,
)
from taskplane.state.scripts import STATUS_ORDER, Scripts
from taskplane.state.state_parts import StateParts
from taskplane.state.state_reads import StateReads

if TYPE_CHECKING:
    from taskplane.settings import Settings


log = logging.getLogger(__name__)


def _name(metadata: Mapping[str, Any] | None) -> str | None:
    """A config's name as its metadata holds it (for an audit entry)."""
    name = None if metadata is None else metadata.get("name")
    return name if isinstance(name, str) else None


class ScheduleStateService(StateReads, StateParts):
    """Status, note, metadata, history and counters of every config, in Redis (its reads:
    ``StateReads``)."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        *,
        history_max: int = 200,
        history_ttl_seconds: int = 30 * 86400,
        audit: AuditLog | None = None,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.history_max = history_max
        self.history_ttl_seconds = history_ttl_seconds
        self.scripts = Scripts(redis)
        self.audit = audit or AuditLog(redis, keys)

    @classmethod
    def from_settings(cls, redis: Redis, keys: Keys, settings: Settings) -> ScheduleStateService:
        """The service as every process builds it: history capped and kept as configured."""
        return cls(
            redis,
            keys,
            history_max=settings.history_max,
            history_ttl_seconds=settings.history_ttl_seconds,
            audit=AuditLog.from_settings(redis, keys, settings),
        )

    def _status_keys(self, config_id: int, actor: Actor) -> list[str]:
        return [
            self.keys.schedule(config_id),
            self.keys.history(config_id),
            self.keys.all_schedules,
            *(self.keys.by_status(s) for s in STATUS_ORDER),
            self.keys.paused_until,
            *self.audit.script_keys(actor, config_id),
        ]

    def _audit_args(
        self,
        actor: Actor,
        event: Event | None,
        config_id: int,
        name: str | None,
        note: str | None,
        details: Mapping[str, Any] | None,
    ) -> list[Any]:
        """The audit entry of an event the scripts write with the change (``state/audit``:
        only an audited actor's, only for the events the trail keeps)."""
        entry = (
            None
            if event is None
            else self.audit.entry_of(actor, str(event), config_id, name, note, details)
        )
        return self.audit.script_args(actor, entry)

    # --- writes -----------------------------------------------------------------------

    async def create(
        self,
        config_id: int,
        metadata: Mapping[str, Any],
        *,
        actor: Actor,
        note: str | None = None,
        details: Mapping[str, Any] | None = None,
        at: datetime | None = None,
    ) -> bool:
        """State ``inactive`` with a ``created`` event; False (no change) if state exists."""
        at = at or datetime.now(UTC)
        event = HistoryEvent(str(Event.CREATED), at, note, dict(details or {}), actor.name)
        result = await self.scripts.create(
            keys=self._status_keys(config_id, actor),
            args=[
                config_id,
                note or "",
                format_instant(at),
                event.to_json(),
                self.history_max,
                self.history_ttl_seconds,
                json.dumps(dict(metadata), separators=(",", ":"), default=str),
                *self.live_event(Event.CREATED),
                *self._audit_args(actor, Event.CREATED, config_id, _name(metadata), note, details),
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
        actor: Actor,
        note: str | None = None,
        details: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
        at: datetime | None = None,
        config_name: str | None = None,
        paused_until: datetime | None = None,
        expect_paused_until: datetime | None = None,
    ) -> TransitionResult:
        """Set the status (with note, time, optional new metadata) and record ``event`` (and
        its audit entry), all in one script, only if the current status is in
        ``allowed_from`` (None = any) and, with ``expect_paused_until``, the stored pause ends
        at that instant. ``config_name`` names the config in the audit entry (default: the
        new metadata's name). Every change cancels a pending pause timer, except one to
        ``paused`` with ``paused_until``, which sets it (``state/pause_timer.py``)."""
        change = Transition(
            config_id,
            to,
            allowed_from,
            event,
            note,
            details,
            metadata,
            at,
            config_name,
            paused_until,
            expect_paused_until,
        )
        result = await self.scripts.transition(
            keys=self._status_keys(config_id, actor), args=self._transition_args(change, actor)
        )
        return TransitionResult(changed=bool(int(result[0])), previous=ScheduleStatus(result[1]))

    async def transition_many(
        self, changes: Sequence[Transition], *, actor: Actor
    ) -> list[TransitionResult]:
        """``transition`` for many configs: one pipeline of the same script (each change
        atomic on its own, with its live event and audit entry)."""
        if not changes:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for c in changes:
                await self.scripts.transition(
                    keys=self._status_keys(c.config_id, actor),
                    args=self._transition_args(c, actor),
                    client=pipe,
                )
            replies = await pipe.execute()
        return [
            TransitionResult(changed=bool(int(r[0])), previous=ScheduleStatus(r[1]))
            for r in replies
        ]

    def _transition_args(self, c: Transition, actor: Actor) -> list[Any]:
        at = c.at or datetime.now(UTC)
        payload = (
            HistoryEvent(str(c.event), at, c.note, dict(c.details or {}), actor.name).to_json()
            if c.event
            else ""
        )
        name = c.config_name if c.config_name is not None else _name(c.metadata)
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
            *self._audit_args(actor, c.event, c.config_id, name, c.note, c.details),
        ]

    def _event_keys(self, config_id: int, actor: Actor) -> list[str]:
        return [
            self.keys.schedule(config_id),
            self.keys.history(config_id),
            *self.audit.script_keys(actor, config_id),
        ]

    async def record_event(
        self,
        config_id: int,
        event: Event,
        *,
        actor: Actor,
        note: str | None = None,
        details: Mapping[str, Any] | None = None,
        at: datetime | None = None,
        config_name: str | None = None,
    ) -> bool:
        """Append one event (no status change; with its audit entry, named
        ``config_name``); False if the config has no state."""
        payload = HistoryEvent(
            str(event), at or datetime.now(UTC), note, dict(details or {}), actor.name
        )
        result = await self.scripts.event(
            keys=self._event_keys(config_id, actor),
            args=[
                payload.to_json(),
                self.history_max,
                self.history_ttl_seconds,
                *self._audit_args(actor, event, config_id, config_name, note, details),
            ],
        )
        return bool(int(result))

    async def record_events(
        self,
        events: Iterable[tuple[int, Event, str | None, Mapping[str, Any]]],
        *,
        actor: Actor,
        names: Mapping[int, str] | None = None,
    ) -> None:
        """Append many events (config id, event, note, details) in one pipeline (each with
        its audit entry, the config named from ``names``)."""
        at = datetime.now(UTC)
        async with self.redis.pipeline(transaction=False) as pipe:
            count = 0
            for config_id, event, note, details in events:
                payload = HistoryEvent(str(event), at, note, dict(details), actor.name)
                name = None if names is None else names.get(config_id)
                await self.scripts.event(
                    keys=self._event_keys(config_id, actor),
                    args=[
                        payload.to_json(),
                        self.history_max,
                        self.history_ttl_seconds,
                        *self._audit_args(actor, event, config_id, name, note, details),
                    ],
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
        actor: Actor,
        event: Event | None = Event.UPDATED,
        note: str | None = None,
        details: Mapping[str, Any] | None = None,
        at: datetime | None = None,
    ) -> bool:
        """Replace the metadata and record ``event`` (and its audit entry) in one script;
        False (nothing changed) if the config has no state."""
        payload = (
            HistoryEvent(
                str(event), at or datetime.now(UTC), note, dict(details or {}), actor.name
            ).to_json()
            if event
            else ""
        )
        result = await self.scripts.metadata(
            keys=self._event_keys(config_id, actor),
            args=[
                json.dumps(dict(metadata), separators=(",", ":"), default=str),
                payload,
                self.history_max,
                self.history_ttl_seconds,
                *self._audit_args(actor, event, config_id, _name(metadata), note, details),
            ],
        )
        return bool(int(result))

    async def set_note(self, config_id: int, note: str | None) -> bool:
        """Replace the note kept with the status, leaving the status, its time and the
        history alone (schedules as code: a file's note for an unchanged status); False if
        the config has no state."""
        result = await self.scripts.note(keys=[self.keys.schedule(config_id)], args=[note or ""])
        return bool(int(result))

    async def delete(
        self, config_id: int, *, actor: Actor | None = None, config_name: str | None = None
    ) -> None:
        """Remove the state, counters and history of a config (one MULTI). With an audited
        ``actor``, the ``deleted`` audit entry is written right after (the audit keys are
        never removed: entries outlive their config)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(self.keys.schedule(config_id), self.keys.history(config_id))
            pipe.zrem(self.keys.paused_until, config_id)
            pipe.srem(self.keys.all_schedules, config_id)
            for status in STATUS_ORDER:
                pipe.srem(self.keys.by_status(status), config_id)
            await pipe.execute()
        if actor is not None:
            await self.audit.record(actor, DELETED, config_id, config_name)

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
