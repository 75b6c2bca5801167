"""One chunk of a bulk action: ``fresh`` (a start or resume of configs nobody holds, one
script) or ``locked`` (under the chunk's locks: ``BEGIN``, decide, ``APPLY``)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from taskplane.actors import Actor
from taskplane.db.configs import ConfigRow
from taskplane.enums import Action, Event, SchedulerType, ScheduleStatus
from taskplane.epoch import to_ms
from taskplane.errors import Conflict
from taskplane.scheduling.bulk.lua import APPLIED, BUSY, NOT_ALLOWED
from taskplane.scheduling.bulk.prepare import (
    ACTIVATION,
    ACTIVE,
    INACTIVE,
    PAUSED,
    Activation,
    Preparer,
)
from taskplane.scheduling.bulk.report import Outcome, Refused, refusal
from taskplane.scheduling.bulk.script import Common, Ops
from taskplane.scheduling.decisions import (
    ActionResult,
    decide,
    kind_of,
)
from taskplane.state.history import format_instant
from taskplane.state.pause_timer import pause_args

if TYPE_CHECKING:
    from taskplane.scheduling.service import SchedulerService

log = logging.getLogger(__name__)


def decide_one(action: Action, config: ConfigRow, current: ScheduleStatus) -> Outcome | None:
    """The single call's refusal or no-op (``decisions.decide``); None: it changes."""
    decided = decide(action, config, current)
    if isinstance(decided, Conflict):
        return refusal(config.id, decided)
    return decided


def read_status(raw: str | None) -> ScheduleStatus:
    """A status as the state hash holds it (none: inactive; unreadable: error)."""
    return INACTIVE if raw is None else ScheduleStatus.stored(raw)


async def run_chunk(
    scheduler: SchedulerService,
    action: Action,
    configs: Sequence[ConfigRow],
    note: str | None,
    actor: Actor,
    until: datetime | None = None,
) -> tuple[dict[int, Outcome], list[ConfigRow]]:
    """One chunk (distinct configs): the outcomes decided here, and the configs left for the
    single path (busy lock, cannot be registered). A start or resume tries each config
    ``_fresh`` first (one round trip); the others, and every other action, go ``_locked``
    (``until``: a pause's end, checked by the caller)."""
    if action not in (Action.START, Action.RESUME):
        return await locked(scheduler, action, configs, note, actor, until)
    outcomes, left, rest = await fresh(scheduler, action, configs, note, actor)
    if rest:
        more, more_left = await locked(scheduler, action, rest, note, actor)
        outcomes.update(more)
        left += more_left
    return outcomes, left


async def fresh(
    scheduler: SchedulerService,
    action: Action,
    configs: Sequence[ConfigRow],
    note: str | None,
    actor: Actor,
) -> tuple[dict[int, Outcome], list[ConfigRow], list[ConfigRow]]:
    """A start or resume of configs that nobody holds and that have no registration (the
    usual case), in one script: each config's lock checked free, its status checked, its
    registration and status change made (``APPLY``'s F ops). Returns the outcomes, the
    configs left for the single path (busy), and the rest for ``_locked``: a manual config,
    one that cannot be registered (its error comes after ``decide``), one with a stored
    registration (replaced under the lock)."""
    now = datetime.now(UTC)
    script = scheduler.bulk_script
    preparer = Preparer(scheduler, action, note, now, actor)
    ops = Ops()
    tried: list[Activation] = []
    rest: list[ConfigRow] = []
    for config in configs:
        prepared = None if kind_of(config) is SchedulerType.MANUAL else preparer.activation(config)
        if prepared is None:
            rest.append(config)
            continue
        script.activate_fresh(
            ops,
            config.id,
            prepared.stored,
            prepared.score,
            preparer.metadata(config, prepared.spec),
            preparer.event(prepared.due),
        )
        tried.append(prepared)
    results = await script.apply(ops, "", common(scheduler, action, note, now, actor))
    outcomes: dict[int, Outcome] = {}
    left: list[ConfigRow] = []
    sent: list[ConfigRow] = []
    event = str(ACTIVATION[action][0])
    for prepared, (code, status) in zip(tried, results, strict=True):
        config = prepared.config
        if code == APPLIED:
            outcomes[config.id] = ActionResult(config.id, str(action), True, ACTIVE, event)
            if prepared.immediate:
                sent.append(config)
        elif code == BUSY:
            left.append(config)
        elif code == NOT_ALLOWED and (decided := decide_one(action, config, read_status(status))):
            outcomes[config.id] = decided  # the no-op or the refusal
        else:
            rest.append(config)
    applied = [p for p, (code, _) in zip(tried, results, strict=True) if code == APPLIED]
    await audit(scheduler, actor, event, note, [(p.config, p.due) for p in applied])
    if sent:
        await scheduler.dispatcher.send_immediate_many(sent, now, actor=actor)
    changed = [p.config.id for p in applied]
    extra = {"action": str(action), "changed": len(changed), "configs": len(tried)}
    log.info("bulk action", extra={**extra, "config_ids": changed})
    return outcomes, left, rest


async def locked(
    scheduler: SchedulerService,
    action: Action,
    configs: Sequence[ConfigRow],
    note: str | None,
    actor: Actor,
    until: datetime | None = None,
) -> tuple[dict[int, Outcome], list[ConfigRow]]:
    """A chunk under its locks (``BEGIN``, decide, ``APPLY``): the outcomes decided here,
    and the configs left for the single path (busy lock, cannot be registered)."""
    script = scheduler.bulk_script
    token = uuid.uuid4().hex
    read = await script.begin([c.id for c in configs], token)
    taken = [c for c, (ok, _) in zip(configs, read, strict=True) if ok]
    left = [c for c, (ok, _) in zip(configs, read, strict=True) if not ok]
    outcomes: dict[int, Outcome] = {}
    applied = False
    try:
        now = datetime.now(UTC)
        ops = Ops()
        changing: list[ConfigRow] = []  # the configs of the A and D ops, in order
        activations: dict[int, Activation] = {}
        preparer = Preparer(scheduler, action, note, now, actor)
        activating = action in ACTIVATION
        for config, (ok, status) in zip(configs, read, strict=True):
            if not ok:
                continue
            cid = config.id
            decided = decide_one(action, config, read_status(status))
            if decided is not None:
                outcomes[cid] = decided
                if action is Action.STOP:  # "already inactive": make sure nothing stays
                    script.unregister(ops, cid)
                else:
                    script.release(ops, cid)
                continue
            if not activating:
                script.deactivate(ops, cid)
                changing.append(config)
                continue
            prepared = preparer.activation(config)
            if prepared is None:
                left.append(config)  # its error status comes from the single path
                script.release(ops, cid)
                continue
            script.activate(
                ops,
                cid,
                prepared.stored,
                prepared.score,
                prepared.keep_overdue,
                preparer.metadata(config, prepared.spec),
                preparer.event(prepared.due),
            )
            activations[cid] = prepared
            changing.append(config)
        shared = common(scheduler, action, note, now, actor, until)
        results = await script.apply(ops, token, shared)
        applied = True
    finally:
        if not applied:  # whatever failed before the script ran: let the locks go
            await scheduler.locks.release_many({c.id: token for c in taken})
    to = ACTIVE if activating else PAUSED if action is Action.PAUSE else INACTIVE
    sent: list[ConfigRow] = []
    done: list[tuple[ConfigRow, datetime | None]] = []
    for config, (changed, previous) in zip(changing, results, strict=True):
        cid = config.id
        if not changed:  # only if a lock lease ran out under us; nothing was written for it
            outcomes[cid] = Refused(
                cid, Conflict(f"config {cid} is {read_status(previous)}; it changed meanwhile")
            )
        elif activating:
            outcomes[cid] = ActionResult(cid, str(action), True, ACTIVE, str(ACTIVATION[action][0]))
            done.append((config, activations[cid].due))
            if activations[cid].immediate:
                sent.append(config)
        else:
            message = "paused" if to is PAUSED else "stopped"
            if to is PAUSED and until is not None:
                message = f"paused until {pause_args(until)[0]}"
            outcomes[cid] = ActionResult(cid, str(action), True, to, message)
            done.append((config, None))
    ends = pause_args(until)[0] if to is PAUSED else ""
    await audit(
        scheduler, actor, str(shared.event), note, done, {"paused_until": ends} if ends else None
    )
    if sent:
        await scheduler.dispatcher.send_immediate_many(sent, now, actor=actor)
    changed_ids = [c for c, o in outcomes.items() if isinstance(o, ActionResult) and o.changed]
    log.info(
        "bulk action",
        extra={
            "action": str(action),
            "changed": len(changed_ids),
            "configs": len(taken),
            "config_ids": sorted(changed_ids),
        },
    )
    return outcomes, left


async def audit(
    scheduler: SchedulerService,
    actor: Actor,
    event: str,
    note: str | None,
    changed: Sequence[tuple[ConfigRow, datetime | None]],
    extra: dict[str, str] | None = None,
) -> None:
    """The audit entries of a chunk's changes, one per config, right after its script (the
    details as in the config's event: the first due of an activation)."""
    log_ = scheduler.state.audit
    entries = [
        entry
        for config, due in changed
        if (
            entry := log_.entry_of(
                actor,
                event,
                config.id,
                config.name,
                note,
                {**(extra or {})} if due is None else {"next_run_at": due.isoformat()},
            )
        )
        is not None
    ]
    await log_.record_many(actor, entries)


def common(
    scheduler: SchedulerService,
    action: Action,
    note: str | None,
    now: datetime,
    actor: Actor,
    until: datetime | None = None,
) -> Common:
    """What every change of the chunk shares: from which statuses, to which, the event (a
    pause's with its ``until``)."""
    if action in ACTIVATION:
        event, allowed = ACTIVATION[action]
        return Common(statuses_text(allowed), ACTIVE, event, note, format_instant(now), to_ms(now))
    ends = pause_args(until)[0] if action is Action.PAUSE else ""
    if action is Action.PAUSE:
        to, event, allowed_from = PAUSED, Event.PAUSED, statuses_text({ACTIVE})
    else:
        to, event, allowed_from = INACTIVE, Event.STOPPED, "*"
    return Common(
        allowed_from,
        to,
        event,
        note,
        format_instant(now),
        to_ms(now),
        scheduler.state.history_json(
            event, now, note, {"paused_until": ends} if ends else {}, actor=actor
        ),
        until if ends else None,
    )


def statuses_text(statuses: frozenset[ScheduleStatus] | set[ScheduleStatus]) -> str:
    return ",".join(str(s) for s in statuses)
