"""The control actions on a schedule, each under the config's lock: the state machine of
API.md (``decisions.py``) carried out.

Duties:
- Every action on one config runs under its lock (``locking.ScheduleLocks``), so the status
  and the schedule source never disagree, and the history holds exactly the actions that
  changed something (a no-op records no event).
- Within an action the status change and its event are one script (state service); the
  registration is one MULTI (core). Activation registers first, then sets the status;
  deactivation sets the status first, then unregisters. A crash between the two leaves a
  difference that ``reconcile`` repairs.
- An interval schedule that becomes active (start, resume, reload, update while active)
  with ``run_immediately`` sends one ``immediate`` message before returning (and records a
  ``fired`` event); its first scheduled due is then now + interval.
- A registration that fails (spec no longer valid, unknown task type) puts the config in
  ``error`` with an ``error`` event saying why, and leaves nothing registered.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis

from taskplane.actors import SCHEDULER, Actor
from taskplane.db.configs import ConfigRow
from taskplane.enums import Action, Event, SchedulerType, ScheduleStatus
from taskplane.errors import Conflict, InvalidInput, TaskplaneError
from taskplane.scheduling import fire_times, specs
from taskplane.scheduling.core import SchedulerCoreService
from taskplane.scheduling.decisions import (
    ACTIVE,
    ERROR,
    INACTIVE,
    NOOP,
    PAUSED,
    ActionResult,
    check_until,
    decide,
    kind_of,
    metadata_of,
    settled,
)
from taskplane.scheduling.dispatch import Dispatcher
from taskplane.scheduling.locking import ScheduleLocks
from taskplane.state.keys import Keys
from taskplane.state.pause_timer import pause_args
from taskplane.state.schedule_state import ScheduleStateService

log = logging.getLogger(__name__)


class Actions:
    """The control actions and lifecycle hooks (see the module doc)."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        state: ScheduleStateService,
        core: SchedulerCoreService,
        locks: ScheduleLocks,
        dispatcher: Dispatcher,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.state = state
        self.core = core
        self.locks = locks
        self.dispatcher = dispatcher

    async def _status(self, config_id: int) -> ScheduleStatus:
        return await self.state.status(config_id) or INACTIVE

    # --- control actions -----------------------------------------------------------------

    async def start(
        self, config: ConfigRow, note: str | None = None, *, actor: Actor
    ) -> ActionResult:
        cid = config.id
        async with self.locks.held(cid):
            current = await self._status(cid)
            if (answer := settled(decide(Action.START, config, current))) is not None:
                return answer
            return await self._activate(
                config,
                Action.START,
                Event.STARTED,
                allowed_from={INACTIVE, ERROR},
                note=note,
                actor=actor,
            )

    async def resume(
        self, config: ConfigRow, note: str | None = None, *, actor: Actor
    ) -> ActionResult:
        cid = config.id
        async with self.locks.held(cid):
            current = await self._status(cid)
            settled(decide(Action.RESUME, config, current))
            return await self._activate(
                config, Action.RESUME, Event.RESUMED, allowed_from={PAUSED}, note=note, actor=actor
            )

    async def reload(
        self, config: ConfigRow, note: str | None = None, *, actor: Actor
    ) -> ActionResult:
        cid = config.id
        async with self.locks.held(cid):
            current = await self._status(cid)
            settled(decide(Action.RELOAD, config, current))
            return await self._activate(
                config,
                Action.RELOAD,
                Event.RELOADED,
                allowed_from={ACTIVE},
                note=note,
                actor=actor,
                replace=True,
            )

    async def pause(
        self,
        config: ConfigRow,
        note: str | None = None,
        until: datetime | None = None,
        *,
        actor: Actor,
    ) -> ActionResult:
        """active -> paused; with ``until`` (``decisions.check_until``) the pause ends by
        itself then (the scheduler's ``pause_ends``), unless a resume or stop comes first."""
        cid = config.id
        if until is not None:
            check_until(until, datetime.now(UTC))
        async with self.locks.held(cid):
            current = await self._status(cid)
            settled(decide(Action.PAUSE, config, current))
            ends = pause_args(until)[0]
            result = await self.state.transition(
                cid,
                PAUSED,
                allowed_from={ACTIVE},
                event=Event.PAUSED,
                actor=actor,
                note=note,
                config_name=config.name,
                details={"paused_until": ends} if ends else None,
                paused_until=until,
            )
            if not result.changed:  # only if the lock lease ran out under us
                raise Conflict(f"config {cid} is {result.previous}; it changed meanwhile")
            await self.core.remove(cid)
            log.info("schedule paused", extra={"config_id": cid, "paused_until": ends or None})
            return ActionResult(
                cid, "pause", True, PAUSED, f"paused until {ends}" if ends else "paused"
            )

    async def end_pause(self, config: ConfigRow, until: datetime) -> ActionResult | None:
        """The pause timer's resume: paused -> active with ``resumed`` if the config is still
        paused until ``until`` (checked under the lock and again in the transition's
        script: a stale timer entry, or a second scheduler, changes nothing). None when
        nothing was due."""
        cid = config.id
        async with self.locks.held(cid):
            state = await self.state.get(cid)
            if state is None or state.status is not PAUSED or state.paused_until != until:
                return None
            return await self._activate(
                config,
                Action.RESUME,
                Event.RESUMED,
                allowed_from={PAUSED},
                note=None,
                actor=SCHEDULER,
                expect_paused_until=until,
                details={"paused_until": pause_args(until)[0], "reason": "pause ended"},
            )

    async def hold(
        self, config: ConfigRow, note: str | None = None, *, actor: Actor
    ) -> ActionResult:
        """inactive / error -> paused without registering anything (schedules as code: a
        file that says ``paused`` for a config that is not running): nothing fires, and a
        ``resume`` activates it later. Paused already: a no-op; active: Conflict (use
        pause); a manual config: Conflict."""
        cid = config.id
        async with self.locks.held(cid):
            current = await self._status(cid)
            if current is PAUSED:
                return ActionResult(cid, "pause", True, PAUSED, "already paused", changed=False)
            if kind_of(config) is SchedulerType.MANUAL:
                raise Conflict(f"config {cid} is a manual config: it cannot be paused")
            result = await self.state.transition(
                cid,
                PAUSED,
                allowed_from={INACTIVE, ERROR},
                event=Event.PAUSED,
                actor=actor,
                note=note,
                config_name=config.name,
            )
            if not result.changed:
                raise Conflict(f"config {cid} is {result.previous}; use pause")
            await self.core.remove(cid)  # nothing should be registered; make sure
            log.info("schedule paused", extra={"config_id": cid})
            return ActionResult(cid, "pause", True, PAUSED, "paused")

    async def set_note(self, config_id: int, note: str | None) -> bool:
        """Replace the note kept with the status (under the config's lock, so it lands on
        the status it was meant for); no event. False if the config has no state."""
        async with self.locks.held(config_id):
            return await self.state.set_note(config_id, note)

    async def stop(
        self, config: ConfigRow | int, note: str | None = None, *, actor: Actor
    ) -> ActionResult:
        cid = config if isinstance(config, int) else config.id
        name = None if isinstance(config, int) else config.name
        async with self.locks.held(cid):
            current = await self._status(cid)
            if current is INACTIVE:
                await self.core.remove(cid)  # nothing should be registered; make sure
                return ActionResult(cid, "stop", True, INACTIVE, NOOP[Action.STOP], changed=False)
            await self.state.transition(
                cid,
                INACTIVE,
                allowed_from=None,
                event=Event.STOPPED,
                actor=actor,
                note=note,
                config_name=name,
            )
            await self.core.remove(cid)
            log.info("schedule stopped", extra={"config_id": cid})
            return ActionResult(cid, "stop", True, INACTIVE, "stopped")

    async def act(
        self,
        action: Action | str,
        config: ConfigRow,
        note: str | None = None,
        until: datetime | None = None,
        *,
        actor: Actor,
    ) -> ActionResult:
        """Dispatch one of the five control actions by name (``until``: pause only)."""
        if until is not None and Action(action) is not Action.PAUSE:
            raise InvalidInput.field("until", msg="only a pause takes until")
        match Action(action):
            case Action.START:
                return await self.start(config, note, actor=actor)
            case Action.STOP:
                return await self.stop(config, note, actor=actor)
            case Action.PAUSE:
                return await self.pause(config, note, until, actor=actor)
            case Action.RESUME:
                return await self.resume(config, note, actor=actor)
            case Action.RELOAD:
                return await self.reload(config, note, actor=actor)
        raise InvalidInput.field("action", msg="unknown action")  # pragma: no cover

    async def complete(self, config_id: int) -> ActionResult:
        """A date schedule has had its one fire: active -> inactive with ``completed``, and
        its registration removed. Called by the engine; idempotent."""
        async with self.locks.held(config_id):
            registered = await self.core.get_spec(config_id)
            if registered is not None and registered.kind is not SchedulerType.DATE:
                current = await self._status(config_id)  # replaced meanwhile: not ours to end
                return ActionResult(
                    config_id, "complete", False, current, "not a date schedule", changed=False
                )
            result = await self.state.transition(
                config_id, INACTIVE, allowed_from={ACTIVE}, event=Event.COMPLETED, actor=SCHEDULER
            )
            await self.core.remove(config_id)
            if not result.changed:
                return ActionResult(
                    config_id,
                    "complete",
                    True,
                    result.previous,
                    "nothing to complete",
                    changed=False,
                )
            log.info("date schedule completed", extra={"config_id": config_id})
            return ActionResult(config_id, "complete", True, INACTIVE, "completed")

    # --- helpers of the actions -----------------------------------------------------------

    async def _activate(
        self,
        config: ConfigRow,
        action: Action,
        event: Event | None,
        *,
        allowed_from: set[ScheduleStatus],
        note: str | None,
        actor: Actor,
        replace: bool = False,
        expect_paused_until: datetime | None = None,
        details: dict[str, Any] | None = None,
    ) -> ActionResult:
        """Register (or replace) then set active with ``event``; run an interval at once.
        A registration that fails puts the config in ``error`` (and registers nothing)."""
        cid = config.id
        now = datetime.now(UTC)
        try:
            spec = specs.parse(config.scheduler_type, config.schedule_config, now=now)
            immediate = spec.kind is SchedulerType.INTERVAL and spec.run_immediately
            due_at = fire_times.next_after(spec, now) if immediate else None
            if replace and not immediate:
                registration = await self.core.replace(config, spec, now=now)
            else:
                registration = await self.core.add(config, spec, due_at=due_at, now=now)
        except (TaskplaneError, ValueError) as exc:
            reason = str(exc)
            await self.core.remove(cid)
            await self.state.transition(
                cid,
                ERROR,
                allowed_from=None,
                event=Event.ERROR,
                actor=actor,
                note=note,
                details={"action": str(action), "reason": reason},
                config_name=config.name,
            )
            log.warning("schedule registration failed", extra={"config_id": cid, "reason": reason})
            return ActionResult(cid, str(action), False, ERROR, f"registration failed: {reason}")
        result = await self.state.transition(
            cid,
            ACTIVE,
            allowed_from=allowed_from,
            event=event,
            actor=actor,
            note=note,
            details={**(details or {}), "next_run_at": registration.first_due.isoformat()},
            metadata=metadata_of(config, spec, now),
            at=now,  # registered_at's instant: the state keeps the two once
            expect_paused_until=expect_paused_until,
        )
        if not result.changed:  # only if the lock lease ran out under us: undo, say so
            if result.previous not in (ACTIVE,):
                await self.core.remove(cid)
            raise Conflict(f"config {cid} is {result.previous}; it changed meanwhile")
        if immediate:
            await self.dispatcher.send_immediate(config, now, actor=actor)
        log.info("schedule active", extra={"config_id": cid, "action": str(action)})
        return ActionResult(cid, str(action), True, ACTIVE, str(event or "re-registered"))
