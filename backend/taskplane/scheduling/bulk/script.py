"""``BulkScript``: the scripts of ``lua.py`` over the owners' keys, sent by
``evalsha.RawScript``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from redis.asyncio import Redis

from taskplane.actors import Actor
from taskplane.enums import Event, ScheduleStatus
from taskplane.scheduling import registration_store
from taskplane.scheduling.bulk.lua import APPLY, BEGIN, CREATE, GLOBAL_ARGS, GLOBAL_KEYS
from taskplane.scheduling.core import SchedulerCoreService
from taskplane.scheduling.evalsha import RawScript
from taskplane.scheduling.locking import ScheduleLocks
from taskplane.state.history import format_instant
from taskplane.state.pause_timer import pause_args
from taskplane.state.replies import text
from taskplane.state.schedule_state import ScheduleStateService


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
    until: datetime | None = None  # a pause's end (the pause timer)


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

    async def create(
        self, items: Sequence[tuple[int, str]], at: datetime, *, actor: Actor
    ) -> list[bool]:
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
            self.state.history_json(Event.CREATED, at, None, {}, actor=actor),
        ]
        for config_id, metadata in items:
            keys += (self.state.status_key(config_id), self.state.event_log(config_id))
            args += (config_id, metadata)
        return [bool(made) for made in await self._create(keys, args)]

    async def begin(self, config_ids: Sequence[int], token: str) -> list[tuple[bool, str | None]]:
        """Take the free locks of ``config_ids`` with ``token``; per config: taken, and its
        status (None without state, or when not taken)."""
        keys: list[str] = []
        for cid in config_ids:
            keys += (self.locks.key(cid), self.state.status_key(cid))
        reply = await self._begin(keys, [token, self.locks.lease_ms])
        return [(bool(reply[i]), text(reply[i + 1])) for i in range(0, len(reply), 2)]

    def activate(
        self,
        ops: Ops,
        config_id: int,
        stored: registration_store.Stored,
        score: int,
        keep_overdue: bool,
        metadata: str,
        event: str,
    ) -> None:
        ops.args += (
            "A",
            config_id,
            *stored,
            score,
            "1" if keep_overdue else "0",
            metadata,
            event,
        )
        ops.keys += self._config_keys(config_id)
        ops.results += 1

    def _config_keys(self, config_id: int) -> tuple[str, str, str]:
        """The keys an A, D or F op names: lock, state hash (it holds the registration too:
        ``core.data_key``), history."""
        return (
            self.locks.key(config_id),
            self.state.status_key(config_id),
            self.state.event_log(config_id),
        )

    def deactivate(self, ops: Ops, config_id: int) -> None:
        ops.args += ("D", config_id)
        ops.keys += self._config_keys(config_id)
        ops.results += 1

    def unregister(self, ops: Ops, config_id: int) -> None:
        ops.args += ("U", config_id)
        ops.keys += (self.locks.key(config_id), self.core.data_key(config_id))

    def activate_fresh(
        self,
        ops: Ops,
        config_id: int,
        stored: registration_store.Stored,
        score: int,
        metadata: str,
        event: str,
    ) -> None:
        ops.args += ("F", config_id, *stored, score, metadata, event)
        ops.keys += self._config_keys(config_id)
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
        keys = [
            self.core.due_key,
            *self.state.index_keys(),
            self.state.pause_timer_key(),
            *self.core.shape_keys,
            *ops.keys,
        ]
        args = [
            token,
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
            *pause_args(common.until),
            *ops.args,
        ]
        assert len(keys) - len(ops.keys) == GLOBAL_KEYS
        assert len(args) - len(ops.args) == GLOBAL_ARGS
        reply = await self._apply(keys, args)
        return [(int(reply[i]), text(reply[i + 1]) or "") for i in range(0, len(reply), 2)]
