"""A control action on many configs at once (``POST /schedules/bulk/{action}``,
``taskplane schedules ACTION ID...``): each id gets exactly what the single call would give
it, in the order given, and an id the single call would refuse (404 / 409 / 422) is reported
with that code without stopping the others.

Cost: a constant number of Redis round trips per chunk of ``CHUNK`` configs, whatever the
chunk's size: take every lock (one pipeline), read every status (one), register what
becomes active (two: read the old registrations, one MULTI), change every status (one
pipeline of the transition script, plus one publish), unregister what stops (two), send the
immediate runs of intervals (two), release the locks (one). Each config's change is the
single action's, under its own lock, decided by the same state machine (``actions.py``),
with the same messages.

The rare cases take the single path, after the batch: a config whose lock is busy (the
single path waits for it), one that cannot be registered (its ``error`` status and event
come from the single path), a repeated id (its second call is the single call's no-op or
refusal, in order). A store outage ends the whole request (503); the chunks done before it
keep their changes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from taskplane.enums import Action, Event, SchedulerType, ScheduleStatus
from taskplane.errors import Conflict, InvalidInput, NotFound, TaskplaneError
from taskplane.scheduling import specs
from taskplane.scheduling.actions import ActionResult, decide, metadata_of
from taskplane.scheduling.core import ConfigLike, first_due
from taskplane.scheduling.service import SchedulerService
from taskplane.scheduling.specs import Spec
from taskplane.state.schedule_state import Transition

log = logging.getLogger(__name__)

MAX_IDS = 1000
CHUNK = 500
"""Configs per batch: enough to amortize the round trips, small enough for one pipeline."""

ACTIVE, PAUSED, INACTIVE, ERROR = (
    ScheduleStatus.ACTIVE,
    ScheduleStatus.PAUSED,
    ScheduleStatus.INACTIVE,
    ScheduleStatus.ERROR,
)
_ACTIVATION = {
    Action.START: (Event.STARTED, frozenset({INACTIVE, ERROR})),
    Action.RESUME: (Event.RESUMED, frozenset({PAUSED})),
    Action.RELOAD: (Event.RELOADED, frozenset({ACTIVE})),
}


@dataclass(frozen=True, slots=True)
class Refused:
    """An id the single call would refuse, with the status code it would answer."""

    config_id: int
    status_code: int
    detail: str


@dataclass(frozen=True, slots=True)
class BulkReport:
    results: list[ActionResult]
    errors: list[Refused]


Outcome = ActionResult | Refused


def _refusal(config_id: int, exc: Exception) -> Refused:
    code = 404 if isinstance(exc, NotFound) else 409 if isinstance(exc, Conflict) else 422
    return Refused(config_id, code, str(exc))


def _decide(action: Action, config: ConfigLike, current: ScheduleStatus) -> Outcome | None:
    """The single call's refusal or no-op (``actions.decide``); None: it changes."""
    decided = decide(action, config, current)
    if isinstance(decided, Conflict):
        return _refusal(config.id, decided)
    return decided


@dataclass(frozen=True, slots=True)
class _Activation:
    config: ConfigLike
    spec: Spec
    due_at: datetime | None
    keep_overdue: bool
    immediate: bool


async def _batch(
    scheduler: SchedulerService,
    action: Action,
    configs: Sequence[ConfigLike],
    note: str | None,
) -> tuple[dict[int, Outcome], list[ConfigLike]]:
    """One chunk (distinct configs): the outcomes decided here, and the configs left for the
    single path (busy lock, cannot be registered)."""
    locks = await scheduler.locks.try_many(c.id for c in configs)
    left = [c for c in configs if c.id not in locks]
    mine = [c for c in configs if c.id in locks]
    outcomes: dict[int, Outcome] = {}
    try:
        states = await scheduler.state.get_many(c.id for c in mine)
        now = datetime.now(UTC)
        activations: list[_Activation] = []
        stops: list[ConfigLike] = []  # deactivations (pause / stop) and stops of inactive
        for config in mine:
            current = states[config.id].status if config.id in states else INACTIVE
            decided = _decide(action, config, current)
            if decided is not None:
                outcomes[config.id] = decided
                if action is Action.STOP:  # "already inactive": make sure nothing stays
                    stops.append(config)
                continue
            if action in (Action.PAUSE, Action.STOP):
                stops.append(config)
                continue
            prepared = _prepare(scheduler, action, config, now)
            if prepared is None:
                left.append(config)  # its error status comes from the single path
            else:
                activations.append(prepared)
        if left:
            await scheduler.locks.release_many(
                {c.id: locks.pop(c.id) for c in left if c.id in locks}
            )
        registrations = await scheduler.core.add_many(
            [(a.config, a.spec, a.due_at, a.keep_overdue) for a in activations], now=now
        )
        changes = [
            Transition(
                a.config.id,
                ACTIVE,
                _ACTIVATION[action][1],
                _ACTIVATION[action][0],
                note,
                {"next_run_at": r.first_due.isoformat()},
                metadata_of(a.config, a.spec, now),
            )
            for a, r in zip(activations, registrations, strict=True)
        ]
        deactivating = [c for c in stops if c.id not in outcomes]
        to = PAUSED if action is Action.PAUSE else INACTIVE
        changes += [
            Transition(
                c.id,
                to,
                {ACTIVE} if action is Action.PAUSE else None,
                Event.PAUSED if action is Action.PAUSE else Event.STOPPED,
                note,
            )
            for c in deactivating
        ]
        results = await scheduler.state.transition_many(changes)
        # unregister: what stopped or paused, a stop of an inactive config (make sure), and
        # an activation whose status changed meanwhile (undone, as the single path does)
        unregister = [c.id for c in stops if c.id in outcomes]
        sent: list[ConfigLike] = []
        for change, result in zip(changes, results, strict=True):
            cid = change.config_id
            if not result.changed:  # only if a lock lease ran out under us, as in the single path
                outcomes[cid] = Refused(
                    cid, 409, f"config {cid} is {result.previous}; it changed meanwhile"
                )
                if change.to is ACTIVE and result.previous is not ACTIVE:
                    unregister.append(cid)
                continue
            if change.to is ACTIVE:
                outcomes[cid] = ActionResult(cid, str(action), True, ACTIVE, str(change.event))
            else:
                message = "paused" if to is PAUSED else "stopped"
                outcomes[cid] = ActionResult(cid, str(action), True, to, message)
                unregister.append(cid)
        for a in activations:
            if a.immediate and isinstance(outcomes.get(a.config.id), ActionResult):
                sent.append(a.config)
        await scheduler.core.remove_many(unregister)
        if sent:
            await scheduler.dispatcher.send_immediate_many(sent, now)
    finally:
        await scheduler.locks.release_many(locks)
    changed = sum(1 for o in outcomes.values() if isinstance(o, ActionResult) and o.changed)
    log.info("bulk action", extra={"action": str(action), "changed": changed, "configs": len(mine)})
    return outcomes, left


def _prepare(
    scheduler: SchedulerService, action: Action, config: ConfigLike, now: datetime
) -> _Activation | None:
    """The registration an activation makes (as ``Actions._activate``), or None when it
    cannot be made (the single path then records the ``error``)."""
    try:
        spec = specs.parse(config.scheduler_type, config.schedule_config, now=now)
        scheduler.core.task_type(config)  # NotFound for an unknown task type
    except (TaskplaneError, ValueError):
        return None
    immediate = spec.kind is SchedulerType.INTERVAL and spec.run_immediately
    due_at = specs.next_after(spec, now) if immediate else None
    if (due_at or first_due(spec, now)) is None:
        return None
    replace = action is Action.RELOAD
    return _Activation(config, spec, due_at, replace and not immediate, immediate)


async def _single(
    scheduler: SchedulerService, action: Action, config: ConfigLike, note: str | None
) -> Outcome:
    try:
        return await scheduler.act(action, config, note)
    except (NotFound, Conflict, InvalidInput) as exc:
        return _refusal(config.id, exc)


async def act_many(
    scheduler: SchedulerService,
    action: Action,
    config_ids: Sequence[int],
    configs: Mapping[int, ConfigLike],
    note: str | None = None,
) -> BulkReport:
    """Run ``action`` on each id of ``config_ids`` (``configs`` holds the rows that exist)."""
    action = Action(action)
    outcomes: list[Outcome | None] = [None] * len(config_ids)
    first: dict[int, int] = {}
    for index, cid in enumerate(config_ids):
        first.setdefault(cid, index)
    distinct = [cid for cid in first if cid in configs]
    by_id: dict[int, Outcome] = {}
    for start in range(0, len(distinct), CHUNK):
        chunk = [configs[cid] for cid in distinct[start : start + CHUNK]]
        decided, left = await _batch(scheduler, action, chunk, note)
        by_id.update(decided)
        for config in left:
            by_id[config.id] = await _single(scheduler, action, config, note)
    for index, cid in enumerate(config_ids):
        if cid not in configs:
            outcomes[index] = Refused(cid, 404, f"config {cid} not found")
        elif first[cid] == index:
            outcomes[index] = by_id[cid]
        else:  # a repeated id: the single call again, in order
            outcomes[index] = await _single(scheduler, action, configs[cid], note)
    done = [o for o in outcomes if o is not None]
    return BulkReport(
        results=[o for o in done if isinstance(o, ActionResult)],
        errors=[o for o in done if isinstance(o, Refused)],
    )
