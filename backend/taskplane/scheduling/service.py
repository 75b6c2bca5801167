"""SchedulerService: what the API, the CLI and the engine call to control schedules.

Composes core (the registered schedule), state (status, history) and the broker (immediate
and manual runs). The transition table is API.md's:

    action  from              to        otherwise
    start   inactive, error   active    active: no-op; paused: Conflict (use resume)
    stop    any               inactive  (idempotent; inactive: no-op)
    pause   active            paused    Conflict
    resume  paused            active    Conflict
    reload  active            active    Conflict  (re-registered from the current config)

A manual config: Conflict for start / pause / resume / reload; stop is allowed.

Duties:
- Every action on one config runs under a per-config lock (``Keys.schedule_lock``, a SET NX
  PX lease released by compare-and-delete), so concurrent actions from any number of API
  processes are serialized: the status and the schedule source never disagree, and the
  history holds exactly the actions that changed something (a no-op records no event).
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

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from taskiq import ScheduledTask

from taskplane.enums import Action, Event, SchedulerType, ScheduleStatus, Trigger
from taskplane.epoch import from_ms
from taskplane.errors import Conflict, InvalidInput, NotFound, TaskplaneError
from taskplane.scheduling import specs
from taskplane.scheduling.core import (
    ConfigLike,
    SchedulerCoreService,
    TaskTypeLookup,
    config_id_of,
    schedule_id,
)
from taskplane.scheduling.specs import Spec
from taskplane.state.keys import Keys
from taskplane.state.schedule_state import (
    HistoryEvent,
    ScheduleStateService,
    decode_state,
    format_instant,
)
from taskplane.worker import messages

log = logging.getLogger(__name__)

ACTIVE, PAUSED, INACTIVE, ERROR = (
    ScheduleStatus.ACTIVE,
    ScheduleStatus.PAUSED,
    ScheduleStatus.INACTIVE,
    ScheduleStatus.ERROR,
)
NEXT_RUNS = 5
RECONCILE_CHUNK = 1000
RECENT_HISTORY = 10
# Fields that end up in the registered ScheduledTask: a change to any re-registers.
SCHEDULE_FIELDS = frozenset(
    {
        "task_type",
        "scheduler_type",
        "schedule_config",
        "parameters",
        "max_retries",
        "timeout_seconds",
        "priority",
    }
)

# KEYS[1] lock; ARGV[1] token. Deletes the lock only if this holder still owns it.
_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


@dataclass(frozen=True, slots=True)
class ActionResult:
    config_id: int
    action: str
    success: bool
    status: ScheduleStatus
    message: str
    changed: bool = True  # False for a no-op (then no event was recorded)


@dataclass(frozen=True, slots=True)
class ScheduleInfo:
    config_id: int
    status: ScheduleStatus
    note: str | None
    status_at: datetime | None
    metadata: dict[str, Any]
    recent_history: list[HistoryEvent]
    is_scheduled: bool
    is_actually_scheduled: bool
    status_consistent: bool
    next_run_at: datetime | None
    next_runs: list[datetime]
    schedule: str | None = None
    runs: int = 0
    successes: int = 0
    failures: int = 0
    consecutive_failures: int = 0
    last_run_at: datetime | None = None
    last_success: bool | None = None


@dataclass(frozen=True, slots=True)
class Repair:
    config_id: int
    reason: str
    status: ScheduleStatus | None  # status after the repair (None: orphan removed)


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    checked: int
    repairs: list[Repair] = field(default_factory=list)
    orphans_removed: list[int] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class BatchReport:
    dispatched: list[tuple[int, str]]  # (config id, task id)
    errors: list[tuple[int, str]]  # (config id, detail)


class ScheduleBusy(Conflict):
    """Another control action on this config did not finish in time."""


def _kind(config: ConfigLike) -> SchedulerType:
    return SchedulerType(config.scheduler_type)


def _metadata(
    config: ConfigLike, spec: Spec | None, registered_at: datetime | None
) -> dict[str, Any]:
    return {
        "name": getattr(config, "name", None),
        "task_type": config.task_type,
        "scheduler_type": str(_kind(config)),
        "schedule": specs.describe(spec) if spec is not None else None,
        "registered_at": format_instant(registered_at) if registered_at else None,
    }


class SchedulerService:
    """The schedule control facade (see the module docstring for its duties)."""

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
        self.lock_lease_ms = lock_lease_ms
        self.lock_wait_seconds = lock_wait_seconds
        self._unlock = redis.register_script(_UNLOCK)

    @classmethod
    def from_resources(
        cls, resources: Any, registry: TaskTypeLookup | None = None
    ) -> SchedulerService:
        """Built from ``Resources`` (the registry is loaded from its settings if not given)."""
        if registry is None:
            from taskplane.tasks.registry import load_registry

            registry = load_registry(resources.settings)
        settings = resources.settings
        return cls(
            resources.redis,
            resources.keys,
            registry,
            history_max=settings.history_max,
            history_ttl_seconds=settings.history_ttl_seconds,
        )

    # --- the per-config lock ----------------------------------------------------------

    @asynccontextmanager
    async def _locked(self, config_id: int) -> AsyncIterator[None]:
        key = self.keys.schedule_lock(config_id)
        token = uuid.uuid4().hex
        deadline = time.monotonic() + self.lock_wait_seconds
        delay = 0.002
        while not await self.redis.set(key, token, nx=True, px=self.lock_lease_ms):
            if time.monotonic() > deadline:
                raise ScheduleBusy(f"config {config_id} is busy with another action; retry")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)
        try:
            yield
        finally:
            await asyncio.shield(self._unlock(keys=[key], args=[token]))

    async def _status(self, config_id: int) -> ScheduleStatus:
        return await self.state.status(config_id) or INACTIVE

    # --- lifecycle hooks ----------------------------------------------------------------

    async def on_created(self, config: ConfigLike) -> None:
        """Every config has state from creation: ``inactive`` with a ``created`` event."""
        spec = self._spec_or_none(config)
        await self.state.create(config.id, _metadata(config, spec, None))

    async def on_updated(
        self,
        config: ConfigLike,
        changed: Iterable[str],
        note: str | None = None,
        *,
        reload: Callable[[], Awaitable[ConfigLike | None]] | None = None,
    ) -> ActionResult:
        """Record ``updated``; an active schedule is re-registered at once (replace, no
        window); a config that became manual stops. Returns what happened to the status.

        ``reload`` (for a caller that committed the row before calling) reads the config
        again once the per-config lock is held, so concurrent updates register the latest
        committed row whatever order their calls arrive in; None from it (the config was
        deleted meanwhile) makes this a no-op."""
        changed_set = set(changed)
        cid = config.id
        async with self._locked(cid):
            if reload is not None:
                fresh = await reload()
                if fresh is None:
                    status = await self._status(cid)
                    return ActionResult(cid, "update", True, status, "deleted", changed=False)
                config = fresh
            current = await self._status(cid)
            spec = self._spec_or_none(config)
            await self.state.update_metadata(
                cid,
                _metadata(config, spec, None),
                note=note,
                details={"changed": sorted(changed_set)},
            )
            if current not in (ACTIVE, PAUSED) or not (changed_set & SCHEDULE_FIELDS):
                return ActionResult(cid, "update", True, current, "updated", changed=False)
            if _kind(config) is SchedulerType.MANUAL:
                await self.state.transition(
                    cid,
                    INACTIVE,
                    allowed_from=None,
                    event=Event.STOPPED,
                    note="config is now manual",
                )
                await self.core.remove(cid)
                return ActionResult(cid, "update", True, INACTIVE, "manual config: stopped")
            if current is PAUSED:
                return ActionResult(cid, "update", True, current, "updated", changed=False)
            return await self._activate(
                config, Action.RELOAD, event=None, allowed_from={ACTIVE}, note=note, replace=True
            )

    async def delete(self, config_id: int, delete_row: Callable[[], Awaitable[None]]) -> None:
        """Delete a config: ``delete_row`` commits the row's deletion, between two Redis
        steps, so that a request that fails changes nothing.

        1. Under the config's lock (with Redis unreachable this fails first, and nothing has
           changed), its due score is taken out: it can fire no more.
        2. ``delete_row`` runs; if it fails, the due score is put back, as it was.
        3. The registration, state, counters and history go. The config is gone by now, so
           a Redis failure here is logged, not raised: the schedule cannot fire (step 1), and
           reconcile removes what is left.
        """
        async with self._locked(config_id):
            score = await self.core.take_due(config_id)
            try:
                await delete_row()
            except BaseException:
                if score is not None:
                    await asyncio.shield(self.core.restore_due(config_id, score))
                raise
            try:
                await self.core.remove(config_id)
                await self.state.delete(config_id)
                await self.redis.delete(self.keys.running(config_id))
            except RedisError:
                log.warning(
                    "config deleted; its schedule state is left for reconcile",
                    extra={"config_id": config_id},
                )

    async def on_deleted(self, config_id: int) -> None:
        """Remove the schedule, state, counters and history of a config."""
        async with self._locked(config_id):
            await self.core.remove(config_id)
            await self.state.delete(config_id)
            await self.redis.delete(self.keys.running(config_id))

    # --- control actions -----------------------------------------------------------------

    async def start(self, config: ConfigLike, note: str | None = None) -> ActionResult:
        cid = config.id
        async with self._locked(cid):
            current = await self._status(cid)
            self._refuse_manual(config, Action.START, current)
            if current is ACTIVE:
                return ActionResult(cid, "start", True, ACTIVE, "already active", changed=False)
            if current is PAUSED:
                raise Conflict(f"config {cid} is paused; use resume")
            return await self._activate(
                config, Action.START, Event.STARTED, allowed_from={INACTIVE, ERROR}, note=note
            )

    async def resume(self, config: ConfigLike, note: str | None = None) -> ActionResult:
        cid = config.id
        async with self._locked(cid):
            current = await self._status(cid)
            self._refuse_manual(config, Action.RESUME, current)
            if current is not PAUSED:
                raise Conflict(f"config {cid} is {current}; only a paused schedule can be resumed")
            return await self._activate(
                config, Action.RESUME, Event.RESUMED, allowed_from={PAUSED}, note=note
            )

    async def reload(self, config: ConfigLike, note: str | None = None) -> ActionResult:
        cid = config.id
        async with self._locked(cid):
            current = await self._status(cid)
            self._refuse_manual(config, Action.RELOAD, current)
            if current is not ACTIVE:
                raise Conflict(
                    f"config {cid} is {current}; only an active schedule can be reloaded"
                )
            return await self._activate(
                config,
                Action.RELOAD,
                Event.RELOADED,
                allowed_from={ACTIVE},
                note=note,
                replace=True,
            )

    async def pause(self, config: ConfigLike, note: str | None = None) -> ActionResult:
        cid = config.id
        async with self._locked(cid):
            current = await self._status(cid)
            self._refuse_manual(config, Action.PAUSE, current)
            if current is not ACTIVE:
                raise Conflict(f"config {cid} is {current}; only an active schedule can be paused")
            result = await self.state.transition(
                cid, PAUSED, allowed_from={ACTIVE}, event=Event.PAUSED, note=note
            )
            if not result.changed:  # only if the lock lease ran out under us
                raise Conflict(f"config {cid} is {result.previous}; it changed meanwhile")
            await self.core.remove(cid)
            log.info("schedule paused", extra={"config_id": cid})
            return ActionResult(cid, "pause", True, PAUSED, "paused")

    async def stop(self, config: ConfigLike | int, note: str | None = None) -> ActionResult:
        cid = config if isinstance(config, int) else config.id
        async with self._locked(cid):
            current = await self._status(cid)
            if current is INACTIVE:
                await self.core.remove(cid)  # nothing should be registered; make sure
                return ActionResult(cid, "stop", True, INACTIVE, "already inactive", changed=False)
            await self.state.transition(
                cid, INACTIVE, allowed_from=None, event=Event.STOPPED, note=note
            )
            await self.core.remove(cid)
            log.info("schedule stopped", extra={"config_id": cid})
            return ActionResult(cid, "stop", True, INACTIVE, "stopped")

    async def act(
        self, action: Action | str, config: ConfigLike, note: str | None = None
    ) -> ActionResult:
        """Dispatch one of the five control actions by name."""
        match Action(action):
            case Action.START:
                return await self.start(config, note)
            case Action.STOP:
                return await self.stop(config, note)
            case Action.PAUSE:
                return await self.pause(config, note)
            case Action.RESUME:
                return await self.resume(config, note)
            case Action.RELOAD:
                return await self.reload(config, note)
        raise InvalidInput.field("action", msg="unknown action")  # pragma: no cover

    async def complete(self, config_id: int) -> ActionResult:
        """A date schedule has had its one fire: active -> inactive with ``completed``, and
        its registration removed. Called by the engine; idempotent."""
        async with self._locked(config_id):
            registered = await self.core.get_spec(config_id)
            if registered is not None and registered.kind is not SchedulerType.DATE:
                current = await self._status(config_id)  # replaced meanwhile: not ours to end
                return ActionResult(
                    config_id, "complete", False, current, "not a date schedule", changed=False
                )
            result = await self.state.transition(
                config_id, INACTIVE, allowed_from={ACTIVE}, event=Event.COMPLETED
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

    @staticmethod
    def _refuse_manual(config: ConfigLike, action: Action, current: ScheduleStatus) -> None:
        """A manual config is never scheduled: only stop is a valid control action."""
        if _kind(config) is SchedulerType.MANUAL and action is not Action.STOP:
            raise Conflict(
                f"config {config.id} is a manual config (status {current}): {action} does not "
                "apply, it only runs on demand"
            )

    @staticmethod
    def _spec_or_none(config: ConfigLike) -> Spec | None:
        try:
            return specs.parse(
                config.scheduler_type, config.schedule_config, now=datetime.fromtimestamp(0, UTC)
            )
        except InvalidInput:
            return None

    async def _activate(
        self,
        config: ConfigLike,
        action: Action,
        event: Event | None,
        *,
        allowed_from: set[ScheduleStatus],
        note: str | None,
        replace: bool = False,
    ) -> ActionResult:
        """Register (or replace) then set active with ``event``; run an interval at once.
        A registration that fails puts the config in ``error`` (and registers nothing)."""
        cid = config.id
        now = datetime.now(UTC)
        try:
            spec = specs.parse(config.scheduler_type, config.schedule_config, now=now)
            immediate = spec.kind is SchedulerType.INTERVAL and spec.run_immediately
            due_at = specs.next_after(spec, now) if immediate else None
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
                note=note,
                details={"action": str(action), "reason": reason},
            )
            log.warning("schedule registration failed", extra={"config_id": cid, "reason": reason})
            return ActionResult(cid, str(action), False, ERROR, f"registration failed: {reason}")
        details = {"next_run_at": registration.first_due.isoformat()}
        result = await self.state.transition(
            cid,
            ACTIVE,
            allowed_from=allowed_from,
            event=event,
            note=note,
            details=details,
            metadata=_metadata(config, spec, now),
        )
        if not result.changed:  # only if the lock lease ran out under us: undo, say so
            if result.previous not in (ACTIVE,):
                await self.core.remove(cid)
            raise Conflict(f"config {cid} is {result.previous}; it changed meanwhile")
        if immediate:
            await self._send_immediate(config, now)
        log.info("schedule active", extra={"config_id": cid, "action": str(action)})
        return ActionResult(cid, str(action), True, ACTIVE, str(event or "re-registered"))

    def _build(
        self, config: ConfigLike, trigger: Trigger, due_at: datetime | None = None
    ) -> messages.Outgoing:
        task_type = self.core.task_type(config)
        timeout = config.timeout_seconds or task_type.timeout_seconds
        return messages.build(
            config_id=config.id,
            task_type=config.task_type,
            queue=task_type.queue,
            parameters=config.parameters,
            trigger=trigger,
            max_retries=config.max_retries,
            timeout_seconds=timeout,
            priority=config.priority,
            due_at=due_at,
        )

    async def _send_immediate(self, config: ConfigLike, now: datetime) -> str:
        out = self._build(config, Trigger.IMMEDIATE, due_at=now)
        await messages.send_many(self.redis, self.keys, [out])
        await self.state.record_event(
            config.id,
            Event.FIRED,
            details={
                "due_at": now.isoformat(),
                "trigger": str(Trigger.IMMEDIATE),
                "task_id": out.task_id,
            },
        )
        return out.task_id

    # --- runs on demand --------------------------------------------------------------------

    async def run_now(
        self, config: ConfigLike, trigger: Trigger = Trigger.MANUAL, note: str | None = None
    ) -> str:
        """Send the task straight to the broker (any status); returns its task id."""
        out = self._build(config, trigger)
        await messages.send_many(self.redis, self.keys, [out])
        await self.state.record_event(
            config.id,
            Event.RUN_REQUESTED,
            note=note,
            details={"task_id": out.task_id, "trigger": str(trigger)},
        )
        return out.task_id

    async def batch_report(
        self,
        configs: Sequence[ConfigLike],
        trigger: Trigger = Trigger.BATCH,
        note: str | None = None,
    ) -> BatchReport:
        """Send many runs in one pipelined MULTI; a config that cannot be built (unknown
        task type) is reported without failing the others."""
        outs: list[tuple[int, messages.Outgoing]] = []
        errors: list[tuple[int, str]] = []
        for config in configs:
            try:
                outs.append((config.id, self._build(config, trigger)))
            except NotFound as exc:
                errors.append((config.id, str(exc)))
        await messages.send_many(self.redis, self.keys, [o for _, o in outs])
        await self.state.record_events(
            (cid, Event.RUN_REQUESTED, note, {"task_id": o.task_id, "trigger": str(trigger)})
            for cid, o in outs
        )
        return BatchReport([(cid, o.task_id) for cid, o in outs], errors)

    async def batch_run(self, configs: Sequence[ConfigLike], note: str | None = None) -> list[str]:
        """Task ids of a batch run, in the order of ``configs``; NotFound if any config
        cannot be sent (use ``batch_report`` for per-config errors)."""
        report = await self.batch_report(configs, note=note)
        if report.errors:
            raise NotFound("task type of config", report.errors[0][0])
        return [task_id for _, task_id in report.dispatched]

    # --- reads -----------------------------------------------------------------------------

    async def info(
        self, config: ConfigLike, *, history: int = RECENT_HISTORY, next_runs: bool = True
    ) -> ScheduleInfo:
        return (await self.infos([config], history=history, next_runs=next_runs))[config.id]

    async def infos(
        self,
        configs: Sequence[ConfigLike],
        *,
        history: int = RECENT_HISTORY,
        next_runs: bool = True,
    ) -> dict[int, ScheduleInfo]:
        """Full info of many configs from one pipeline (state, registration, due, history).

        ``next_runs=False`` leaves ``next_runs`` empty (``next_run_at`` still comes from the
        due index): computing future cron times costs far more than the rest of a page.
        """
        if not configs:
            return {}
        async with self.redis.pipeline(transaction=False) as pipe:
            for config in configs:
                pipe.hgetall(self.keys.schedule(config.id))
                pipe.get(self.keys.source_data(schedule_id(config.id)))
                pipe.zscore(self.keys.due, config.id)
                if history > 0:
                    pipe.lrange(self.keys.history(config.id), 0, history - 1)
            raw = await pipe.execute()
        now = datetime.now(UTC)
        out: dict[int, ScheduleInfo] = {}
        width = 4 if history > 0 else 3
        for i, config in enumerate(configs):
            state_raw, data, score = raw[width * i : width * i + 3]
            events = raw[width * i + 3] if history > 0 else []
            out[config.id] = self._compose(
                config, state_raw, data, score, events, now, history, next_runs
            )
        return out

    def _compose(
        self,
        config: ConfigLike,
        state_raw: Mapping[str, str],
        data: str | None,
        score: float | None,
        events: list[str],
        now: datetime,
        history: int,
        with_next_runs: bool = True,
    ) -> ScheduleInfo:
        state = decode_state(config.id, state_raw)
        status = state.status if state is not None else INACTIVE
        registered = data is not None
        spec: Spec | None = None
        task = self.core.decode(data) if data is not None else None
        if task is not None:
            try:
                spec = specs.from_labels(task.labels)
            except (KeyError, ValueError):
                spec = None
        is_scheduled = status is ACTIVE
        next_run_at = (
            from_ms(score) if (is_scheduled and registered and score is not None) else None
        )
        next_runs: list[datetime] = []
        if next_run_at is not None and spec is not None:
            next_runs = [next_run_at]
            if with_next_runs and spec.kind is not SchedulerType.DATE:
                next_runs += specs.next_n(spec, next_run_at, NEXT_RUNS - 1)
        recent: list[HistoryEvent] = []
        for e in events[: max(history, 0)]:
            try:
                recent.append(HistoryEvent.from_json(e))
            except ValueError:
                continue
        return ScheduleInfo(
            config_id=config.id,
            status=status,
            note=state.note if state else None,
            status_at=state.status_at if state else None,
            metadata=state.metadata if state else {},
            recent_history=recent,
            is_scheduled=is_scheduled,
            is_actually_scheduled=registered,
            status_consistent=(is_scheduled == registered) and state is not None,
            next_run_at=next_run_at,
            next_runs=next_runs,
            # the registered spec while registered; else the configured one, so a paused or
            # stopped schedule still says what it will do when it runs again
            schedule=(
                specs.describe(spec)
                if spec is not None
                else specs.describe_config(config.scheduler_type, config.schedule_config)
            ),
            runs=state.runs if state else 0,
            successes=state.successes if state else 0,
            failures=state.failures if state else 0,
            consecutive_failures=state.consecutive_failures if state else 0,
            last_run_at=state.last_run_at if state else None,
            last_success=state.last_success if state else None,
        )

    # --- reconcile ---------------------------------------------------------------------------

    async def reconcile(
        self, configs: Sequence[ConfigLike], *, remove_orphans: bool = True
    ) -> ReconcileReport:
        """Make Redis agree with the state: active => registered with the current spec;
        paused / inactive / error => absent; no state => inactive; a date schedule whose
        time passed and that is no longer registered => inactive. With ``remove_orphans``
        (``configs`` must then be every config), schedules and state of configs that do
        not exist are removed. Each repair is a ``repaired`` event and a log line."""
        repairs: list[Repair] = []
        for chunk_start in range(0, len(configs), RECONCILE_CHUNK):
            chunk = configs[chunk_start : chunk_start + RECONCILE_CHUNK]
            infos = await self.infos(chunk, history=0, next_runs=False)
            stored = await self.redis.mget(
                [self.keys.source_data(schedule_id(c.id)) for c in chunk]
            )
            for config, raw in zip(chunk, stored, strict=True):
                info = infos[config.id]
                if info.status_consistent and not (
                    info.status is ACTIVE
                    and (info.next_run_at is None or self._is_stale(config, self.core.decode(raw)))
                ):
                    continue
                async with self._locked(config.id):
                    repair = await self._repair(config)
                if repair is not None:
                    repairs.append(repair)
                    log.warning(
                        "schedule repaired",
                        extra={"config_id": repair.config_id, "reason": repair.reason},
                    )
        orphans: list[int] = []
        if remove_orphans:
            orphans = await self._remove_orphans(await self.orphan_candidates(configs))
        return ReconcileReport(len(configs), repairs, orphans)

    async def orphan_candidates(self, configs: Sequence[ConfigLike]) -> set[int]:
        """Ids with a schedule or state in Redis but not among ``configs``."""
        known = {c.id for c in configs}
        return (await self.core.registered_ids() | await self.state.all_ids()) - known

    async def _remove_orphans(self, candidates: set[int]) -> list[int]:
        for cid in sorted(candidates):
            async with self._locked(cid):
                await self.core.remove(cid)
                await self.state.delete(cid)
            log.warning("orphan schedule removed", extra={"config_id": cid})
        return sorted(candidates)

    async def reconcile_all(self, sessions: async_sessionmaker[AsyncSession]) -> ReconcileReport:
        """Reconcile every config in the database (and remove orphans): what the API and the
        scheduler run at start."""
        from taskplane.db import configs as config_rows

        async with sessions() as session:
            ids = await config_rows.all_ids(session)
            rows = await config_rows.get_many(session, ids)
        listed = [rows[i] for i in ids if i in rows]
        report = await self.reconcile(listed, remove_orphans=False)
        # A config created by another process after the snapshot above already has its
        # schedule: ask the database again, right before removing, which ids are gone.
        candidates = await self.orphan_candidates(listed)
        if candidates:
            async with sessions() as session:
                still_there = await config_rows.get_many(session, candidates)
            removed = await self._remove_orphans(candidates - still_there.keys())
            report = ReconcileReport(report.checked, report.repairs, removed)
        log.info(
            "reconciled schedules",
            extra={
                "checked": report.checked,
                "repaired": len(report.repairs),
                "orphans_removed": len(report.orphans_removed),
            },
        )
        return report

    def _is_stale(self, config: ConfigLike, stored: ScheduledTask | None) -> bool:
        """The registered task differs from the one the config builds now."""
        if stored is None:
            return False
        spec = self._spec_or_none(config)
        if spec is None or not spec.is_scheduled:
            return True
        try:
            wanted = self.core.build(config, spec)
        except TaskplaneError:
            return True
        return bool(wanted.model_dump(mode="json") != stored.model_dump(mode="json"))

    async def _repair(self, config: ConfigLike) -> Repair | None:
        cid = config.id
        state = await self.state.get(cid)
        registered = await self.core.is_registered(cid)
        if state is None:
            if registered:
                await self.core.remove(cid)
            spec = self._spec_or_none(config)
            await self.state.transition(
                cid,
                INACTIVE,
                allowed_from=None,
                event=Event.REPAIRED,
                details={"reason": "missing state"},
                metadata=_metadata(config, spec, None),
            )
            return Repair(cid, "missing state", INACTIVE)
        status = state.status
        if status is not ACTIVE:
            if not registered:
                return None
            await self.core.remove(cid)
            reason = f"registered while {status}"
            await self.state.record_event(cid, Event.REPAIRED, details={"reason": reason})
            return Repair(cid, reason, status)
        kind = _kind(config)
        if kind is SchedulerType.MANUAL:
            await self.core.remove(cid)
            return await self._repair_to(cid, INACTIVE, "manual config cannot be active")
        now = datetime.now(UTC)
        due = await self.core.next_due(cid)
        if kind is SchedulerType.DATE and (not registered or due is None):
            spec = self._spec_or_none(config)
            if spec is None or spec.run_at is None or spec.run_at <= now:
                await self.core.remove(cid)
                return await self._repair_to(cid, INACTIVE, "date passed", completed=True)
        stale = registered and self._is_stale(config, await self.core.get(cid))
        if registered and not stale and due is not None:
            return None
        if not registered:
            reason = "schedule missing"
        elif stale:
            reason = "schedule differs from config"
        else:
            reason = "due time missing"
        try:
            spec = specs.parse(config.scheduler_type, config.schedule_config, now=now)
            await self.core.replace(config, spec, now=now)
        except (TaskplaneError, ValueError) as exc:
            await self.core.remove(cid)
            return await self._repair_to(cid, ERROR, f"{reason}; registration failed: {exc}")
        await self.state.record_event(cid, Event.REPAIRED, details={"reason": reason})
        return Repair(cid, reason, ACTIVE)

    async def _repair_to(
        self, cid: int, status: ScheduleStatus, reason: str, *, completed: bool = False
    ) -> Repair:
        details: dict[str, Any] = {"reason": reason}
        if completed:
            details["completed"] = True
        await self.state.transition(
            cid, status, allowed_from=None, event=Event.REPAIRED, details=details
        )
        return Repair(cid, reason, status)

    # --- listings -------------------------------------------------------------------------

    async def registered_configs(self) -> set[int]:
        """Config ids with a registered schedule (reconcile and inspection)."""
        return await self.core.registered_ids()


def from_resources(resources: Any) -> SchedulerService:
    """The service for a process's ``Resources`` (used by the scheduler process)."""
    return SchedulerService.from_resources(resources)


__all__ = [
    "ActionResult",
    "BatchReport",
    "ReconcileReport",
    "Repair",
    "ScheduleBusy",
    "ScheduleInfo",
    "SchedulerService",
    "config_id_of",
    "from_resources",
]
