"""Backfill (API.md, "Backfill"): send the runs a schedule should have had in a past window.

``due_times(spec, start, end, anchor)`` (pure) lists the schedule's due times in
``[start, end)`` through the engine's one fire-time function (``fire_times.occurrences``:
DST policy, exclusions; an excluded due time is no due time); ``checked`` refuses more than
``MAX_DUE_TIMES`` (InvalidInput naming ``end``). An interval's due times are anchored on its
cadence: the last ``fired`` due time, else the registered next due, else ``start``.

``Backfiller.backfill`` then splits them:
- ``already_ran``: a due time whose task id (``messages.scheduled_task_id``, the one a
  scheduled fire of that due time has) has an execution record (PostgreSQL), a ``fired``
  event in the history, or was sent by an earlier backfill;
- ``sent``: the rest, each sent as a run with trigger ``backfill`` and that task id, by ONE
  script (``SEND``) that, per due time, sets its marker ``Keys.backfill_claim(cid, due_ms)``
  (SET NX, TTL ``CLAIM_TTL_MS``) and only if it was not set XADDs the message: overlapping
  backfills send each due time once, atomically. A scheduled fire of a due time that a
  backfill sent (or the reverse, in the moment before either is recorded) carries the same
  task id, so the worker's claim on (task id, attempt) runs it once (``worker/recorder.py``).
- ``dry_run`` sends nothing and records nothing (``sent`` is what would be sent).
One ``backfill`` history event per call that is not a dry run (details: the window, the
counts, the task ids sent), with its audit entry (action ``backfill``) in the same script.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taskplane import messages
from taskplane.actors import Actor
from taskplane.db import executions
from taskplane.db.configs import ConfigRow
from taskplane.enums import Event, SchedulerType, Trigger
from taskplane.epoch import from_ms, to_ms
from taskplane.errors import Conflict, InvalidInput
from taskplane.instants import read_instant
from taskplane.scheduling import fire_times, specs
from taskplane.scheduling.core import SchedulerCoreService
from taskplane.scheduling.registration import run_labels
from taskplane.scheduling.specs import Spec
from taskplane.state.history import format_instant
from taskplane.state.keys import Keys
from taskplane.state.schedule_state import ScheduleStateService

MAX_DUE_TIMES = 1000
CLAIM_TTL_MS = 7 * 86_400_000
"""How long a backfill's send marker stays: long past the moment its run is recorded in
PostgreSQL (from then on the record itself says the due time ran)."""

# KEYS: per due time: its marker (``Keys.backfill_claim``), its queue's stream.
# ARGV: 1 the marker's TTL ms, then per due time: the message body.
# Per due time: SET NX the marker; only if it was set, XADD the message (field ``data``, as
# ``messages.send`` writes it). Returns per due time 1 sent, 0 already sent by a backfill.
SEND = """
local out = {}
for i = 1, #KEYS, 2 do
  if redis.call('SET', KEYS[i], '1', 'NX', 'PX', ARGV[1]) then
    redis.call('XADD', KEYS[i + 1], '*', 'data', ARGV[(i + 1) / 2 + 1])
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out
"""


def due_times(
    spec: Spec,
    start: datetime,
    end: datetime,
    anchor: datetime | None = None,
    limit: int = MAX_DUE_TIMES + 1,
) -> list[datetime]:
    """The first ``limit`` due times of ``spec`` in ``[start, end)``, in order (``anchor``: a
    due time of an interval's cadence). Pure, and it never raises for a long window (it may
    run in the api's child process, whence an exception would not come back whole):
    ``checked`` refuses more than ``MAX_DUE_TIMES``."""
    if spec.kind is SchedulerType.INTERVAL:
        assert spec.interval_seconds is not None
        step = spec.interval_seconds * 1000
        base, start_ms = to_ms(anchor or start), to_ms(start)
        first = from_ms(base + -(-(start_ms - base) // step) * step)  # the first one >= start
        found = fire_times.occurrences(spec, first=first)
    else:
        found = fire_times.occurrences(spec, after=start - timedelta(microseconds=1))
    out: list[datetime] = []
    for occurrence in found:  # the engine's own rules: DST policy, exclusions
        if occurrence.due_at >= end or len(out) >= limit:
            break
        if occurrence.fires:
            out.append(occurrence.due_at)
    return out


def checked(due: list[datetime]) -> list[datetime]:
    """``due`` if it holds at most ``MAX_DUE_TIMES``; else InvalidInput naming ``end``."""
    if len(due) > MAX_DUE_TIMES:
        raise InvalidInput.field(
            "end",
            msg=f"the window holds more than {MAX_DUE_TIMES} due times; choose an earlier end",
        )
    return due


def check_window(start: datetime, end: datetime, now: datetime) -> None:
    """``start`` before ``end``, ``end`` not in the future; else InvalidInput naming ``end``."""
    if end <= start:
        raise InvalidInput.field("end", msg="must be after start")
    if end > now:
        raise InvalidInput.field("end", msg="must not be in the future")


def backfill_spec(config: ConfigRow) -> Spec:
    """The config's schedule as stored; Conflict for a manual config or one that no longer
    reads as a schedule (nothing is due)."""
    if SchedulerType(config.scheduler_type) is SchedulerType.MANUAL:
        raise Conflict(f"config {config.id} is a manual config: it has no due times")
    spec = specs.stored(config.scheduler_type, config.schedule_config)
    if spec is None:
        raise Conflict(f"config {config.id}: its schedule no longer reads; nothing is due")
    return spec


Compute = Callable[..., Awaitable[list[datetime]]]
"""Runs ``due_times`` with its arguments somewhere (``api.cpu_bound.CpuBound.run``)."""


@dataclass(frozen=True, slots=True)
class BackfillReport:
    due_times: list[datetime]
    already_ran: list[datetime]
    sent: list[datetime]
    task_ids: list[str]  # of ``sent``, in order
    dry_run: bool


class Backfiller:
    """Backfills of one process (see the module doc)."""

    def __init__(
        self, redis: Redis, keys: Keys, state: ScheduleStateService, core: SchedulerCoreService
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.state = state
        self.core = core
        self._send = redis.register_script(SEND)

    async def run(
        self,
        sessions: async_sessionmaker[AsyncSession],
        config: ConfigRow,
        start: datetime,
        end: datetime,
        *,
        dry_run: bool,
        note: str | None = None,
        now: datetime,
        actor: Actor,
        compute: Compute | None = None,
    ) -> BackfillReport:
        """A backfill of ``config`` over ``[start, end)``, checked first (Conflict for a
        manual config; InvalidInput naming ``end``): what ``POST /schedules/{id}/backfill``
        and ``taskplane schedules backfill`` do. ``compute`` runs ``due_times`` (the api's
        child process: up to a thousand cron times must not run on its event loop)."""
        spec = backfill_spec(config)
        check_window(start, end, now)
        anchor = await self.anchor(config.id) if spec.kind is SchedulerType.INTERVAL else None
        if compute is None:
            due = checked(due_times(spec, start, end, anchor))
        else:
            due = checked(await compute(due_times, spec, start, end, anchor))
        return await self.backfill(
            sessions, config, due, start=start, end=end, dry_run=dry_run, note=note, actor=actor
        )

    async def anchor(self, config_id: int) -> datetime | None:
        """An interval's cadence: the newest ``fired`` scheduled (or immediate) due time,
        else the registered next due (None: the window's start)."""
        events, _ = await self.state.history(config_id, limit=self.state.history_max)
        for event in events:
            if event.event == str(Event.FIRED) and event.details.get("trigger") in (
                str(Trigger.SCHEDULED),
                str(Trigger.IMMEDIATE),
            ):
                due = read_instant(event.details.get("due_at"))
                if due is not None:
                    return due
        return await self.core.next_due(config_id)

    async def backfill(
        self,
        sessions: async_sessionmaker[AsyncSession],
        config: ConfigRow,
        due: list[datetime],
        *,
        start: datetime,
        end: datetime,
        dry_run: bool,
        note: str | None = None,
        actor: Actor,
    ) -> BackfillReport:
        """Split ``due`` (``due_times`` of the window) into what already ran and what is
        sent now (dry run: would be); record one ``backfill`` event unless a dry run."""
        cid = config.id
        ids = {d: messages.scheduled_task_id(cid, to_ms(d)) for d in due}
        async with sessions() as session:
            recorded = await executions.recorded_task_ids(session, set(ids.values()))
        events, _ = await self.state.history(cid, limit=self.state.history_max)
        fired = {
            str(e.details.get("task_id"))
            for e in events
            if e.event == str(Event.FIRED) and e.details.get("task_id")
        }
        ran = recorded | fired
        todo = [d for d in due if ids[d] not in ran]
        if dry_run:
            claimed = await self._claimed(cid, todo)
            sent = [d for d in todo if d not in claimed]
        else:
            sent = await self._send_all(config, todo)
        done = set(sent)
        report = BackfillReport(
            due_times=due,
            already_ran=[d for d in due if d not in done],
            sent=sent,
            task_ids=[ids[d] for d in sent],
            dry_run=dry_run,
        )
        if not dry_run:
            await self.state.record_event(  # with its audit entry (``backfill``)
                cid,
                Event.BACKFILL,
                actor=actor,
                config_name=config.name,
                note=note,
                details={
                    "start": format_instant(start),
                    "end": format_instant(end),
                    "due_times": len(due),
                    "already_ran": len(report.already_ran),
                    "sent": len(sent),
                    "task_ids": report.task_ids,
                },
            )
        return report

    async def _claimed(self, config_id: int, due: list[datetime]) -> set[datetime]:
        """The due times an earlier backfill sent (their markers exist)."""
        if not due:
            return set()
        async with self.redis.pipeline(transaction=False) as pipe:
            for d in due:
                pipe.exists(self.keys.backfill_claim(config_id, to_ms(d)))
            found = await pipe.execute()
        return {d for d, exists in zip(due, found, strict=True) if exists}

    async def _send_all(self, config: ConfigRow, due: list[datetime]) -> list[datetime]:
        """Send each due time's run unless a backfill did already (``SEND``); the sent ones."""
        if not due:
            return []
        task_type = self.core.task_type(config)
        keys: list[str] = []
        args: list[Any] = [CLAIM_TTL_MS]
        for d in due:
            due_ms = to_ms(d)
            labels = run_labels(config, task_type, Trigger.BACKFILL, from_ms(due_ms))
            out = messages.compose(
                labels, config.parameters, messages.scheduled_task_id(config.id, due_ms)
            )
            keys += (
                self.keys.backfill_claim(config.id, due_ms),
                messages.stream(self.keys, out.queue),
            )
            args.append(out.body)
        results = await self._send(keys=keys, args=args)
        return [d for d, sent in zip(due, results, strict=True) if int(sent)]
