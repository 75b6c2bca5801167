"""SchedulerService: what the API, the CLI and the engine call to control schedules.

A facade over one module per concept, all sharing one state service, one core and one set
of per-config locks:

    actions.py    the state machine (start / stop / pause / resume / reload / complete) and
                  the lifecycle hooks (created, updated, deleted)
    bulk/         an action on many configs at once (two scripts per chunk: bulk/lua.py)
    dispatch.py   runs on demand (run now, batch) and the immediate run of an interval
    backfill.py   the runs a schedule should have had in a past window, each due time once
    pause_ends.py (the scheduler's) pauses that end by themselves: ``end_pause``
    info.py       the read model (``ScheduleInfo``, many configs in one pipeline)
    reconcile.py  repairs drift between state, registrations and configs
    locking.py    the per-config lock every action takes

It composes core (the registered schedule), state (status, history) and the broker, and
records every control action as a history event. Callers import from here; every process
builds its one instance in the composition root (``taskplane/services.py``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taskplane.actors import Actor
from taskplane.db.configs import SCHEDULE_FIELDS, ConfigRow
from taskplane.enums import Action, Trigger
from taskplane.scheduling import bulk
from taskplane.scheduling.actions import Actions
from taskplane.scheduling.backfill import Backfiller
from taskplane.scheduling.bulk.script import BulkScript
from taskplane.scheduling.core import SchedulerCoreService, TaskTypeLookup
from taskplane.scheduling.decisions import ActionResult
from taskplane.scheduling.dispatch import BatchReport, Dispatcher
from taskplane.scheduling.info import NEXT_RUNS, RECENT_HISTORY, ReadModel, ScheduleInfo
from taskplane.scheduling.lifecycle import Lifecycle
from taskplane.scheduling.locking import ScheduleBusy, ScheduleLocks
from taskplane.scheduling.reconcile import Reconciler, ReconcileReport, Repair
from taskplane.scheduling.registration import config_id_of
from taskplane.scheduling.skipping import Skipping
from taskplane.state.keys import Keys
from taskplane.state.schedule_state import ScheduleStateService
from taskplane.state.skips import SkipStore


class SchedulerService:
    """The schedule control facade (see the module docstring)."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        registry: TaskTypeLookup,
        *,
        state: ScheduleStateService | None = None,
        core: SchedulerCoreService | None = None,
        history_max: int = 200,
        history_ttl_seconds: int = 30 * 86400,
        lock_lease_ms: int = 15_000,
        lock_wait_seconds: float = 30.0,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.registry = registry
        self.state = state or ScheduleStateService(
            redis, keys, history_max=history_max, history_ttl_seconds=history_ttl_seconds
        )
        self.core = core or SchedulerCoreService(redis, keys, registry)
        self.locks = ScheduleLocks(
            redis, keys, lease_ms=lock_lease_ms, wait_seconds=lock_wait_seconds
        )
        self.dispatcher = Dispatcher(redis, keys, self.state, self.core)
        self.read_model = ReadModel(redis, keys)
        self.actions = Actions(redis, keys, self.state, self.core, self.locks, self.dispatcher)
        self.lifecycle = Lifecycle(self.actions)
        self.reconciler = Reconciler(self.state, self.core, self.locks)
        self.bulk_script = BulkScript(redis, self.locks, self.state, self.core)
        self.skips = SkipStore(redis, keys)
        self.skipping = Skipping(self.state, self.core, self.locks, self.skips)
        self.backfiller = Backfiller(redis, keys, self.state, self.core)

    # --- lifecycle hooks (actions.py) ---------------------------------------------------

    async def on_created(self, config: ConfigRow, *, actor: Actor) -> None:
        await self.lifecycle.on_created(config, actor=actor)

    async def on_created_many(self, configs: Sequence[ConfigRow], *, actor: Actor) -> None:
        """``on_created`` for many configs (state ``inactive`` and a ``created`` event each;
        one script per chunk: ``bulk.create_many``)."""
        await bulk.create_many(self, configs, actor=actor)

    async def on_updated(
        self,
        config: ConfigRow,
        changed: Iterable[str],
        note: str | None = None,
        *,
        actor: Actor,
        changes: Mapping[str, Any] | None = None,
        reload: Callable[[], Awaitable[ConfigRow | None]] | None = None,
    ) -> ActionResult:
        return await self.lifecycle.on_updated(
            config, changed, note, actor=actor, changes=changes, reload=reload
        )

    async def delete(
        self, config_id: int, delete_row: Callable[[], Awaitable[str | None]], *, actor: Actor
    ) -> None:
        await self.lifecycle.delete(config_id, delete_row, actor=actor)
        await self.skips.forget(config_id)

    async def on_deleted(self, config_id: int, *, forget_audit: bool = False) -> None:
        await self.lifecycle.on_deleted(config_id, forget_audit=forget_audit)
        await self.skips.forget(config_id)

    # --- control actions (actions.py) -----------------------------------------------------

    async def start(
        self, config: ConfigRow, note: str | None = None, *, actor: Actor
    ) -> ActionResult:
        return await self.actions.start(config, note, actor=actor)

    async def hold(
        self, config: ConfigRow, note: str | None = None, *, actor: Actor
    ) -> ActionResult:
        """inactive / error -> paused, registering nothing (``Actions.hold``)."""
        return await self.actions.hold(config, note, actor=actor)

    async def set_note(self, config_id: int, note: str | None) -> bool:
        """Replace the note kept with the status; no event (``Actions.set_note``)."""
        return await self.actions.set_note(config_id, note)

    async def stop(
        self, config: ConfigRow | int, note: str | None = None, *, actor: Actor
    ) -> ActionResult:
        return await self.actions.stop(config, note, actor=actor)

    async def pause(
        self,
        config: ConfigRow,
        note: str | None = None,
        until: datetime | None = None,
        *,
        actor: Actor,
    ) -> ActionResult:
        return await self.actions.pause(config, note, until, actor=actor)

    async def end_pause(self, config: ConfigRow, until: datetime) -> ActionResult | None:
        """A pause with ``until`` ends by itself (the scheduler's ``pause_ends``)."""
        return await self.actions.end_pause(config, until)

    async def resume(
        self, config: ConfigRow, note: str | None = None, *, actor: Actor
    ) -> ActionResult:
        return await self.actions.resume(config, note, actor=actor)

    async def reload(
        self, config: ConfigRow, note: str | None = None, *, actor: Actor
    ) -> ActionResult:
        return await self.actions.reload(config, note, actor=actor)

    async def act(
        self,
        action: Action | str,
        config: ConfigRow,
        note: str | None = None,
        until: datetime | None = None,
        *,
        actor: Actor,
    ) -> ActionResult:
        return await self.actions.act(action, config, note, until, actor=actor)

    async def act_many(
        self,
        action: Action | str,
        config_ids: Sequence[int],
        configs: Mapping[int, ConfigRow],
        note: str | None = None,
        until: datetime | None = None,
        *,
        actor: Actor,
    ) -> bulk.BulkReport:
        """``act`` on each id of ``config_ids`` (``configs`` holds the rows that exist), in
        chunks of a constant number of round trips (``bulk/``); one audit entry per config
        changed."""
        return await bulk.act_many(
            self, Action(action), config_ids, configs, note, until, actor=actor
        )

    async def start_many(
        self, configs: Sequence[ConfigRow], note: str | None = None, *, actor: Actor
    ) -> bulk.BulkReport:
        """``start`` each config, through the bulk path."""
        return await self.act_many(
            Action.START, [c.id for c in configs], {c.id: c for c in configs}, note, actor=actor
        )

    async def complete(self, config_id: int) -> ActionResult:
        """A date schedule has had its one fire (the engine's ``Completer``)."""
        return await self.actions.complete(config_id)

    # --- runs on demand (dispatch.py) -------------------------------------------------------

    async def run_now(
        self,
        config: ConfigRow,
        trigger: Trigger = Trigger.MANUAL,
        note: str | None = None,
        *,
        actor: Actor,
    ) -> str:
        return await self.dispatcher.run_now(config, trigger, note, actor=actor)

    async def batch_report(
        self,
        configs: Sequence[ConfigRow],
        trigger: Trigger = Trigger.BATCH,
        note: str | None = None,
        *,
        actor: Actor,
    ) -> BatchReport:
        return await self.dispatcher.batch_report(configs, trigger, note, actor=actor)

    async def batch_run(
        self, configs: Sequence[ConfigRow], note: str | None = None, *, actor: Actor
    ) -> list[str]:
        return await self.dispatcher.batch_run(configs, note, actor=actor)

    # --- reads (info.py) ---------------------------------------------------------------------

    async def info(
        self, config: ConfigRow, *, history: int = RECENT_HISTORY, next_runs: bool = True
    ) -> ScheduleInfo:
        return (await self.infos([config], history=history, next_runs=next_runs))[config.id]

    async def infos(
        self,
        configs: Sequence[ConfigRow],
        *,
        history: int = RECENT_HISTORY,
        next_runs: bool = True,
    ) -> dict[int, ScheduleInfo]:
        return await self.read_model.infos(configs, history=history, next_runs=next_runs)

    # --- reconcile (reconcile.py) --------------------------------------------------------------

    async def reconcile(
        self, configs: Sequence[ConfigRow], *, remove_orphans: bool = True
    ) -> ReconcileReport:
        return await self.reconciler.reconcile(configs, remove_orphans=remove_orphans)

    async def orphan_candidates(self, configs: Sequence[ConfigRow]) -> set[int]:
        return await self.reconciler.orphan_candidates(configs)

    async def reconcile_all(self, sessions: async_sessionmaker[AsyncSession]) -> ReconcileReport:
        return await self.reconciler.reconcile_all(sessions)

    # --- listings -------------------------------------------------------------------------

    async def registered_configs(self) -> set[int]:
        """Config ids with a registered schedule (reconcile and inspection)."""
        return await self.core.registered_ids()


__all__ = [
    "NEXT_RUNS",
    "RECENT_HISTORY",
    "SCHEDULE_FIELDS",
    "ActionResult",
    "BatchReport",
    "ReconcileReport",
    "Repair",
    "ScheduleBusy",
    "ScheduleInfo",
    "SchedulerService",
    "config_id_of",
]
