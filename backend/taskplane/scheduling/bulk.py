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

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from taskplane.enums import Action, Event, SchedulerType, ScheduleStatus
from taskplane.epoch import to_ms
from taskplane.errors import Conflict, InvalidInput, NotFound, TaskplaneError
from taskplane.json_template import Hole, Template
from taskplane.scheduling import specs
from taskplane.scheduling.actions import (
    ActionResult,
    decide,
    kind_of,
    metadata_of,
    spec_or_none,
)
from taskplane.scheduling.bulk_script import APPLIED, BUSY, NOT_ALLOWED, Common, Ops
from taskplane.scheduling.registration import ConfigLike, first_due
from taskplane.scheduling.specs import Spec
from taskplane.state.history import format_instant

if TYPE_CHECKING:
    from taskplane.scheduling.service import SchedulerService

log = logging.getLogger(__name__)

MAX_IDS = 1000
CHUNK = 500
"""Configs per batch: enough to amortize the round trips, small enough that a chunk's script
holds Redis for milliseconds only."""
IN_FLIGHT = 2
"""Chunks under way at once: one's Python runs while Redis runs the other's script."""

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
    due: datetime
    keep_overdue: bool
    immediate: bool
    body: str
    score: int  # the due time in epoch ms
    list_key: str  # the source list the registration joins


def _status(raw: str | None) -> ScheduleStatus:
    """A status as the state hash holds it (none: inactive; unreadable: error)."""
    if raw is None:
        return INACTIVE
    try:
        return ScheduleStatus(raw)
    except ValueError:
        return ERROR


async def _batch(
    scheduler: SchedulerService,
    action: Action,
    configs: Sequence[ConfigLike],
    note: str | None,
) -> tuple[dict[int, Outcome], list[ConfigLike]]:
    """One chunk (distinct configs): the outcomes decided here, and the configs left for the
    single path (busy lock, cannot be registered). A start or resume tries each config
    ``_fresh`` first (one round trip); the others, and every other action, go ``_locked``."""
    if action not in (Action.START, Action.RESUME):
        return await _locked(scheduler, action, configs, note)
    outcomes, left, rest = await _fresh(scheduler, action, configs, note)
    if rest:
        more, more_left = await _locked(scheduler, action, rest, note)
        outcomes.update(more)
        left += more_left
    return outcomes, left


async def _fresh(
    scheduler: SchedulerService,
    action: Action,
    configs: Sequence[ConfigLike],
    note: str | None,
) -> tuple[dict[int, Outcome], list[ConfigLike], list[ConfigLike]]:
    """A start or resume of configs that nobody holds and that have no registration (the
    usual case), in one script: each config's lock checked free, its status checked, its
    registration and status change made (``APPLY``'s F ops). Returns the outcomes, the
    configs left for the single path (busy), and the rest for ``_locked``: a manual config,
    one that cannot be registered (its error comes after ``decide``), one with a stored
    registration (moved from its list under the lock)."""
    now = datetime.now(UTC)
    script = scheduler.bulk_script
    preparer = _Preparer(scheduler, action, note, now)
    ops = Ops()
    tried: list[_Activation] = []
    rest: list[ConfigLike] = []
    for config in configs:
        prepared = None if kind_of(config) is SchedulerType.MANUAL else preparer.activation(config)
        if prepared is None:
            rest.append(config)
            continue
        script.activate_fresh(
            ops,
            config.id,
            prepared.body,
            prepared.score,
            prepared.list_key,
            preparer.metadata(config, prepared.spec),
            preparer.event(prepared.due),
        )
        tried.append(prepared)
    results = await script.apply(ops, "", _common(scheduler, action, note, now))
    outcomes: dict[int, Outcome] = {}
    left: list[ConfigLike] = []
    sent: list[ConfigLike] = []
    event = str(_ACTIVATION[action][0])
    for prepared, (code, status) in zip(tried, results, strict=True):
        config = prepared.config
        if code == APPLIED:
            outcomes[config.id] = ActionResult(config.id, str(action), True, ACTIVE, event)
            if prepared.immediate:
                sent.append(config)
        elif code == BUSY:
            left.append(config)
        elif code == NOT_ALLOWED and (decided := _decide(action, config, _status(status))):
            outcomes[config.id] = decided  # the no-op or the refusal
        else:
            rest.append(config)
    if sent:
        await scheduler.dispatcher.send_immediate_many(sent, now)
    changed = sum(1 for code, _ in results if code == APPLIED)
    extra = {"action": str(action), "changed": changed, "configs": len(tried)}
    log.info("bulk action", extra=extra)
    return outcomes, left, rest


async def _locked(
    scheduler: SchedulerService,
    action: Action,
    configs: Sequence[ConfigLike],
    note: str | None,
) -> tuple[dict[int, Outcome], list[ConfigLike]]:
    """A chunk under its locks (``BEGIN``, decide, ``APPLY``): the outcomes decided here,
    and the configs left for the single path (busy lock, cannot be registered)."""
    script = scheduler.bulk_script
    token = uuid.uuid4().hex
    read = await script.begin([c.id for c in configs], token)
    taken = [c for c, (ok, _, _) in zip(configs, read, strict=True) if ok]
    left = [c for c, (ok, _, _) in zip(configs, read, strict=True) if not ok]
    outcomes: dict[int, Outcome] = {}
    applied = False
    try:
        now = datetime.now(UTC)
        ops = Ops()
        changing: list[ConfigLike] = []  # the configs of the A and D ops, in order
        activations: dict[int, _Activation] = {}
        preparer = _Preparer(scheduler, action, note, now)
        activating = action in _ACTIVATION
        for config, (ok, status, raw) in zip(configs, read, strict=True):
            if not ok:
                continue
            cid = config.id
            decided = _decide(action, config, _status(status))
            if decided is not None:
                outcomes[cid] = decided
                if action is Action.STOP:  # "already inactive": make sure nothing stays
                    script.unregister(ops, cid, scheduler.core.removal_lists(raw))
                else:
                    script.release(ops, cid)
                continue
            if not activating:
                script.deactivate(ops, cid, scheduler.core.removal_lists(raw))
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
                prepared.body,
                prepared.score,
                prepared.keep_overdue,
                prepared.list_key,
                scheduler.core.stored_list(raw),
                preparer.metadata(config, prepared.spec),
                preparer.event(prepared.due),
            )
            activations[cid] = prepared
            changing.append(config)
        results = await script.apply(ops, token, _common(scheduler, action, note, now))
        applied = True
    finally:
        if not applied:  # whatever failed before the script ran: let the locks go
            await scheduler.locks.release_many({c.id: token for c in taken})
    to = ACTIVE if activating else PAUSED if action is Action.PAUSE else INACTIVE
    sent: list[ConfigLike] = []
    for config, (changed, previous) in zip(changing, results, strict=True):
        cid = config.id
        if not changed:  # only if a lock lease ran out under us; nothing was written for it
            outcomes[cid] = Refused(
                cid, 409, f"config {cid} is {_status(previous)}; it changed meanwhile"
            )
        elif activating:
            outcomes[cid] = ActionResult(
                cid, str(action), True, ACTIVE, str(_ACTIVATION[action][0])
            )
            if activations[cid].immediate:
                sent.append(config)
        else:
            message = "paused" if to is PAUSED else "stopped"
            outcomes[cid] = ActionResult(cid, str(action), True, to, message)
    if sent:
        await scheduler.dispatcher.send_immediate_many(sent, now)
    changed_count = sum(1 for o in outcomes.values() if isinstance(o, ActionResult) and o.changed)
    log.info(
        "bulk action",
        extra={"action": str(action), "changed": changed_count, "configs": len(taken)},
    )
    return outcomes, left


def _common(scheduler: SchedulerService, action: Action, note: str | None, now: datetime) -> Common:
    """What every change of the chunk shares: from which statuses, to which, the event."""
    if action in _ACTIVATION:
        event, allowed = _ACTIVATION[action]
        return Common(_allowed(allowed), ACTIVE, event, note, format_instant(now), to_ms(now))
    if action is Action.PAUSE:
        to, event, allowed_from = PAUSED, Event.PAUSED, _allowed({ACTIVE})
    else:
        to, event, allowed_from = INACTIVE, Event.STOPPED, "*"
    return Common(
        allowed_from,
        to,
        event,
        note,
        format_instant(now),
        to_ms(now),
        scheduler.state.history_json(event, now, note, {}),
    )


def _allowed(statuses: frozenset[ScheduleStatus] | set[ScheduleStatus]) -> str:
    return ",".join(str(s) for s in statuses)


class _Preparer:
    """The registrations, metadata and events of one chunk's activations (as
    ``Actions._activate`` makes them), each shape's made once: configs of one chunk mostly
    share their schedule, task type and first due."""

    def __init__(
        self, scheduler: SchedulerService, action: Action, note: str | None, now: datetime
    ) -> None:
        self.scheduler = scheduler
        self.action = action
        self.note = note
        self.now = now
        self._specs: dict[tuple[str, str], Spec] = {}
        # by id() of a spec of ``_specs`` (alive as long as this object): (due, its epoch
        # ms, immediate, source list), or None when nothing is due
        self._timing: dict[int, tuple[datetime, int, bool, str] | None] = {}
        self._metadata: dict[tuple[str, int], Template] = {}
        self._events: dict[datetime, str] = {}

    def spec(self, config: ConfigLike) -> Spec:
        """``specs.parse`` of the config's schedule at ``now`` (InvalidInput if invalid)."""
        # repr tells JSON values apart (1, 1.0 and True are equal keys of a dict, not here)
        key = (str(config.scheduler_type), repr(config.schedule_config))
        found = self._specs.get(key)
        if found is None:
            found = specs.parse(config.scheduler_type, config.schedule_config, now=self.now)
            self._specs[key] = found
        return found

    def activation(self, config: ConfigLike) -> _Activation | None:
        """The registration an activation makes, or None when it cannot be made (the
        single path then records the ``error``)."""
        try:
            spec = self.spec(config)
            body = self.scheduler.core.encode(config, spec)  # NotFound: unknown task type
        except (TaskplaneError, ValueError):
            return None
        if id(spec) not in self._timing:
            now = self.now
            immediate = spec.kind is SchedulerType.INTERVAL and spec.run_immediately
            due = (specs.next_after(spec, now) if immediate else None) or first_due(spec, now)
            self._timing[id(spec)] = (
                None
                if due is None
                else (due, to_ms(due), immediate, self.scheduler.core.list_key(spec))
            )
        timing = self._timing[id(spec)]
        if timing is None:
            return None
        due, score, immediate, list_key = timing
        keep_overdue = self.action is Action.RELOAD and not immediate
        return _Activation(config, spec, due, keep_overdue, immediate, body, score, list_key)

    def metadata(self, config: ConfigLike, spec: Spec) -> str:
        """``metadata_of(config, spec, now)`` as the state stores it (JSON); ``spec`` is
        one of ``spec``'s."""
        key = (config.task_type, id(spec))
        template = self._metadata.get(key)
        if template is None:
            shape = {**metadata_of(config, spec, self.now), "name": Hole("name")}
            template = Template.of(shape, separators=(",", ":"), default=str)
            self._metadata[key] = template
        return template.fill(name=getattr(config, "name", None))

    def event(self, due: datetime) -> str:
        """The activation's history event (its details: the first due)."""
        found = self._events.get(due)
        if found is None:
            found = self._events[due] = self.scheduler.state.history_json(
                _ACTIVATION[self.action][0],
                self.now,
                self.note,
                {"next_run_at": due.isoformat()},
            )
        return found


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

    async def one(chunk: list[ConfigLike]) -> None:
        decided, left = await _batch(scheduler, action, chunk, note)
        by_id.update(decided)
        for config in left:
            by_id[config.id] = await _single(scheduler, action, config, note)

    inflight: list[asyncio.Task[None]] = []
    try:
        for start in range(0, len(distinct), CHUNK):
            chunk = [configs[cid] for cid in distinct[start : start + CHUNK]]
            inflight.append(asyncio.create_task(one(chunk)))
            if len(inflight) >= IN_FLIGHT:
                await inflight.pop(0)
        while inflight:
            await inflight.pop(0)
    except BaseException:  # a store outage ends the request: stop the chunk still running
        for pending in inflight:
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
        raise
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


async def create_many(scheduler: SchedulerService, configs: Sequence[ConfigLike]) -> None:
    """``on_created`` for many configs: their state ``inactive`` with a ``created`` event,
    one script per chunk (``bulk_script.CREATE``); state that exists is left alone."""
    at = datetime.now(UTC)
    for start in range(0, len(configs), CHUNK):
        items = [
            (c.id, json.dumps(metadata_of(c, spec_or_none(c), None), separators=(",", ":")))
            for c in configs[start : start + CHUNK]
        ]
        await scheduler.bulk_script.create(items, at)
