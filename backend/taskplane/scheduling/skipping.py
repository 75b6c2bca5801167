"""Skip and unskip upcoming fires of a schedule (``POST /schedules/{id}/skip`` / ``unskip``).

Which times may be skipped is asked of the one source of fire times
(``fire_times.occurrences`` from the schedule's stored due time): each must be one of the
next ``MAX_AHEAD`` due times (or, jittered, the send time ``next_runs`` shows for it) of an
active cron / interval schedule that an exclusion does not already leave out (else
``InvalidInput`` naming ``("due_at", i)``); another status is a ``Conflict``. The change
runs under the config's lock, as every control action does, and is stored with its history
event in one script (``state/skips.py``). A skipped time is recorded by the engine as
``skipped`` (reason ``requested``) when it passes.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from taskplane.actors import Actor
from taskplane.enums import Event, SchedulerType, ScheduleStatus
from taskplane.epoch import from_ms, to_ms
from taskplane.errors import Conflict, FieldError, InvalidInput
from taskplane.scheduling import fire_times
from taskplane.scheduling.core import SchedulerCoreService
from taskplane.scheduling.locking import ScheduleLocks
from taskplane.scheduling.specs import Spec
from taskplane.state.schedule_state import ScheduleStateService
from taskplane.state.skips import SkipStore

MAX_AHEAD = 1000
"""How many upcoming due times a skip may name."""
FIELD = "due_at"


@dataclass(frozen=True, slots=True)
class SkippedRun:
    """An upcoming due time skipped on request, and why."""

    due_at: datetime
    note: str | None


def skipped_runs(skips: Mapping[int, str], now: datetime) -> list[SkippedRun]:
    """The skips still ahead of ``now``, soonest first (past ones wait to be pruned)."""
    now_ms = to_ms(now)
    return [
        SkippedRun(from_ms(due), note or None)
        for due, note in sorted(skips.items())
        if due >= now_ms
    ]


async def upcoming_dues(
    core: SchedulerCoreService, config_id: int, spec: Spec, *, count: int = MAX_AHEAD
) -> list[fire_times.Occurrence]:
    """The next ``count`` fire times of a registered schedule that no exclusion leaves out
    (requested skips included), from its stored due time; [] when none is stored."""
    score = await core.next_due(config_id)
    if score is None:
        return []
    recorded = (await core.jittered_many([config_id])).get(config_id)
    first = from_ms(fire_times.due_of(spec, config_id, to_ms(score), recorded))
    found = (
        o
        for o in fire_times.occurrences(spec, first=first, config_id=config_id)
        if o.skipped != fire_times.EXCLUDED
    )
    return list(itertools.islice(found, count))


class Skipping:
    """Skip / unskip under the config's lock (see the module doc)."""

    def __init__(
        self,
        state: ScheduleStateService,
        core: SchedulerCoreService,
        locks: ScheduleLocks,
        store: SkipStore,
    ) -> None:
        self.state = state
        self.core = core
        self.locks = locks
        self.store = store

    async def change(
        self,
        config_id: int,
        scheduler_type: SchedulerType | str,
        due_ats: Sequence[datetime],
        note: str | None,
        *,
        is_skip: bool,
        actor: Actor,
        config_name: str | None = None,
        now: datetime | None = None,
    ) -> list[SkippedRun]:
        """Skip (or unskip) ``due_ats``; returns the config's upcoming skips after it. The
        history event and the audit entry (action ``skipped_runs``, written right after the
        change, as the audit trail's other non-script writes are) name ``actor``."""
        now = now or datetime.now(UTC)
        async with self.locks.held(config_id):
            status = await self.state.status(config_id) or ScheduleStatus.INACTIVE
            if status is not ScheduleStatus.ACTIVE:
                raise Conflict(
                    f"config {config_id} is {status}; only an active schedule's fires can be "
                    "skipped"
                )
            spec = await self.core.get_spec(config_id)
            kind = SchedulerType(scheduler_type)
            if kind not in (SchedulerType.CRON, SchedulerType.INTERVAL) or spec is None:
                raise InvalidInput.field(
                    FIELD, 0, msg=f"a {kind} schedule has no upcoming fire times to skip"
                )
            # a time is named by its due time or, jittered, by the send time next_runs show
            allowed: dict[int, int] = {}
            for o in await upcoming_dues(self.core, config_id, spec):
                allowed[to_ms(o.send_at)] = allowed[to_ms(o.due_at)] = to_ms(o.due_at)
            errors = [
                FieldError(
                    (FIELD, i),
                    f"{t.isoformat()} is not one of the next {MAX_AHEAD} fire times of "
                    f"config {config_id}",
                )
                for i, t in enumerate(due_ats)
                if to_ms(t) not in allowed or from_ms(to_ms(t)) != t
            ]
            if errors:
                raise InvalidInput(errors)
            dues = sorted({allowed[to_ms(t)] for t in due_ats})
            details = {
                "action": "skip" if is_skip else "unskip",
                FIELD: [from_ms(d).isoformat() for d in dues],
            }
            await self.store.change(
                config_id,
                dict.fromkeys(dues, note or "") if is_skip else dues,
                is_skip=is_skip,
                now_ms=to_ms(now),
                history=self.state.event_log(config_id),
                event=self.state.history_json(Event.SKIPPED_RUNS, now, note, details, actor=actor),
                history_max=self.state.history_max,
                history_ttl_seconds=self.state.history_ttl_seconds,
            )
            await self.state.audit.record(
                actor, str(Event.SKIPPED_RUNS), config_id, config_name, note, details
            )
            return skipped_runs(await self.store.read(config_id), now)
