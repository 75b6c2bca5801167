""" "Why didn't it run?": one sentence, computed from state the system already has.

The scheduler already records each decision it takes for a config in the config's history,
inside the fire script (``fired``, and ``skipped`` with ``overlap`` / ``misfire``), so the
decisions cost nothing extra and are bounded like the history. A paused or stopped schedule
is never looked at by the scheduler: the fires it would have sent since it was paused or
stopped are derived here from its spec (``paused`` / ``stopped`` decisions).

``verdict`` is pure (a table of facts -> a sentence, tested without I/O); ``explain``
gathers the facts: status and note (state service), decisions (history), next fires (the
schedule read model), scheduler presence and leadership, and the live workers that serve
the task type's queue (heartbeats).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from redis.asyncio import Redis

from taskplane.alerts.store import AlertStore
from taskplane.db.configs import ConfigRow
from taskplane.enums import Event, SchedulerType, ScheduleStatus
from taskplane.instants import read_instant
from taskplane.scheduling import fire_times, specs
from taskplane.scheduling.service import SchedulerService
from taskplane.state import heartbeats
from taskplane.state.history import HistoryEvent
from taskplane.state.keys import Keys

DECISIONS_SHOWN = 20
"""Newest decisions returned (the history keeps up to ``history_max`` events)."""
HISTORY_READ = 200
_DERIVED_MAX = 10  # fires a pause or stop held back, shown as decisions

DecisionKind = Literal["fired", "skipped"]


@dataclass(frozen=True, slots=True)
class Decision:
    """What the scheduler did (or, paused / stopped, did not do) about one due time."""

    at: datetime
    due_at: datetime | None
    decision: DecisionKind
    reason: str | None  # None for a fire; a skip's: overlap / misfire / paused / stopped /
    # excluded / requested
    detail: str | None = None  # an exclusion's holiday, a requested skip's note


@dataclass(frozen=True, slots=True)
class LastFire:
    due_at: datetime | None
    sent_at: datetime
    task_id: str | None


@dataclass(frozen=True, slots=True)
class Facts:
    """Everything a verdict is computed from."""

    now: datetime
    kind: SchedulerType
    status: ScheduleStatus
    note: str | None
    status_at: datetime | None
    next_runs: Sequence[datetime]
    decisions: Sequence[Decision]  # newest first
    last_event: str | None  # the newest history event's name
    last_error: str | None  # the reason of the newest ``error`` event
    queue: str
    schedulers_alive: int
    has_leader: bool
    workers_serving: int  # live workers that consume ``queue``
    worker_last_seen: datetime | None  # newest heartbeat of a worker that served ``queue``
    open_alerts: Sequence[tuple[str, datetime]] = ()  # (kind, opened_at) of open incidents
    paused_until: datetime | None = None  # a pause that ends by itself then


def _at(moment: datetime | None, now: datetime) -> str:
    """'10:02 UTC' today, '2026-12-01 10:02 UTC' on another day."""
    if moment is None:
        return "an unknown time"
    moment = moment.astimezone(UTC)
    if moment.date() == now.astimezone(UTC).date():
        return moment.strftime("%H:%M UTC")
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _ago(now: datetime, then: datetime) -> str:
    seconds = max(0, int((now - then).total_seconds()))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"


def _with_note(text: str, note: str | None) -> str:
    return f"{text}: {note!r}" if note else text


def verdict(f: Facts) -> str:
    """One plain sentence: why it did or did not run, and what happens next; an open alert
    incident is named at its end."""
    text = _situation(f)
    if f.open_alerts:
        named = ", ".join(f"{kind} since {_at(at, f.now)}" for kind, at in f.open_alerts)
        text += f"; open alert: {named}"
    return text


def _situation(f: Facts) -> str:
    if f.kind is SchedulerType.MANUAL:
        return "manual: it runs only when asked (run now or a batch run), never on a schedule"
    if f.status is ScheduleStatus.PAUSED:
        return _with_note(f"paused since {_at(f.status_at, f.now)}", f.note) + (
            f"; it resumes by itself at {_at(f.paused_until, f.now)}"
            if f.paused_until is not None
            else "; nothing fires until it is resumed"
        )
    if f.status is ScheduleStatus.ERROR:
        why = f.last_error or f.note or "see its history"
        since = _at(f.status_at, f.now)
        return f"in error since {since}: {why}; nothing fires until it is started again"
    if f.status is ScheduleStatus.INACTIVE:
        if f.last_event == str(Event.COMPLETED):
            fired = next((d for d in f.decisions if d.decision == "fired"), None)
            if fired is not None:
                due, sent = _at(fired.due_at, f.now), _at(fired.at, f.now)
                return f"done: its one fire (due {due}) was sent at {sent}"
            return f"done since {_at(f.status_at, f.now)}: its one fire time had passed"
        return _with_note(f"stopped since {_at(f.status_at, f.now)}", f.note) + (
            "; nothing fires until it is started"
        )
    # active
    upcoming = f.next_runs[0] if f.next_runs else None
    if f.schedulers_alive == 0:
        return "no scheduler is running: nothing is sent" + (
            f"; the fire due {_at(upcoming, f.now)} goes out when one starts" if upcoming else ""
        )
    if not f.has_leader:
        return "no scheduler leads right now (a new leader is being chosen): fires wait for it"
    if f.workers_serving == 0:
        seen = (
            f"has been seen for {_ago(f.now, f.worker_last_seen)}"
            if f.worker_last_seen is not None
            else "is running"
        )
        return f"no worker serving queue {f.queue!r} {seen}: fires are queued, not run"
    latest = f.decisions[0] if f.decisions else None
    if latest is not None and latest.decision == "skipped":
        if latest.reason == "overlap":
            return (
                f"skipped the {_at(latest.due_at, f.now)} fire: the previous run was still running "
                "(overlap: skip)" + (f"; next fire {_at(upcoming, f.now)}" if upcoming else "")
            )
        if latest.reason in ("excluded", "requested"):
            return _skipped_on_purpose(latest, f.now) + (
                f"; next fire {_at(upcoming, f.now)}" if upcoming else ""
            )
        if latest.reason == "misfire":
            return (
                f"skipped the fire due {_at(latest.due_at, f.now)}: no scheduler sent it in time "
                "(misfire policy)" + (f"; next fire {_at(upcoming, f.now)}" if upcoming else "")
            )
    if upcoming is None:
        return "active, but no fire is due any more"
    if latest is not None and latest.decision == "fired":
        last = _at(latest.due_at, f.now)
        return f"next fire {_at(upcoming, f.now)} (the last one, due {last}, was sent)"
    return f"next fire {_at(upcoming, f.now)}"


def _skipped_on_purpose(skip: Decision, now: datetime) -> str:
    """'skipped 09:00 on 25 Dec: Christmas Day (excluded)' / '...: 'release' (skip requested)'."""
    due = skip.due_at.astimezone(UTC) if skip.due_at is not None else None
    when = due.strftime("%H:%M UTC on %d %b") if due is not None else "a fire"
    if skip.reason == "excluded":
        why = f"{skip.detail} (excluded)" if skip.detail else "an excluded date"
    else:
        why = f"{skip.detail!r} (skip requested)" if skip.detail else "a skip was requested"
    return f"skipped {when}: {why}"


# --- decisions from the history ----------------------------------------------------------


def decisions_of(events: Sequence[HistoryEvent]) -> list[Decision]:
    """The scheduler's decisions in a config's history (newest first)."""
    out: list[Decision] = []
    for e in events:
        if e.event == str(Event.FIRED):
            out.append(Decision(e.timestamp, read_instant(e.details.get("due_at")), "fired", None))
        elif e.event == str(Event.SKIPPED):
            reason = e.details.get("reason")
            detail = e.details.get("holiday") or e.details.get("note")
            out.append(
                Decision(
                    e.timestamp,
                    read_instant(e.details.get("due_at")),
                    "skipped",
                    str(reason) if reason is not None else None,
                    str(detail) if detail else None,
                )
            )
    return out


def held_back(
    spec: specs.Spec | None,
    status: ScheduleStatus,
    since: datetime | None,
    now: datetime,
    anchor: datetime | None = None,
) -> list[Decision]:
    """The fires a pause or a stop held back since ``since``, newest first (at most ten).
    An interval keeps its cadence from ``anchor`` (its last due time) when there is one."""
    if spec is None or since is None:
        return []
    if status not in (ScheduleStatus.PAUSED, ScheduleStatus.INACTIVE):
        return []
    reason = "paused" if status is ScheduleStatus.PAUSED else "stopped"
    start = since
    if spec.kind is SchedulerType.INTERVAL and anchor is not None and anchor <= since:
        assert spec.interval_seconds is not None
        steps = int((since - anchor).total_seconds() // spec.interval_seconds)
        start = anchor + timedelta(seconds=steps * spec.interval_seconds)
    due = [o.due_at for o in fire_times.upcoming(spec, _DERIVED_MAX, after=start)]
    due = [t for t in due if since < t <= now]
    return [Decision(t, t, "skipped", reason) for t in reversed(due)]


def last_fire(events: Sequence[HistoryEvent]) -> LastFire | None:
    for e in events:
        if e.event == str(Event.FIRED):
            task_id = e.details.get("task_id")
            return LastFire(
                read_instant(e.details.get("due_at")),
                e.timestamp,
                str(task_id) if task_id is not None else None,
            )
    return None


def _last_error(events: Sequence[HistoryEvent]) -> str | None:
    for e in events:
        if e.event == str(Event.ERROR):
            reason = e.details.get("reason") or e.note
            return str(reason) if reason else None
    return None


# --- gathering ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Presence:
    schedulers_alive: int
    has_leader: bool
    workers_serving: int
    worker_last_seen: datetime | None


async def presence(
    redis: Redis, keys: Keys, queue: str, *, stale_seconds: float, now: datetime
) -> Presence:
    """Who is alive: schedulers (and whether one leads), and the workers serving ``queue``."""
    schedulers = await heartbeats.list_schedulers(redis, keys, stale_seconds=stale_seconds, now=now)
    workers = await heartbeats.list_workers(redis, keys, stale_seconds=stale_seconds, now=now)
    serving = [w for w in workers if not w.queues or queue in w.queues]
    return Presence(
        schedulers_alive=heartbeats.live(schedulers),
        has_leader=any(s.is_leader and not s.is_stale for s in schedulers),
        workers_serving=sum(1 for w in serving if not w.is_stale),
        worker_last_seen=max((w.heartbeat_at for w in serving), default=None),
    )


@dataclass(frozen=True, slots=True)
class Explanation:
    config_id: int
    status: ScheduleStatus
    note: str | None
    status_at: datetime | None
    verdict: str
    next_runs: list[datetime]
    last_fire: LastFire | None
    decisions: list[Decision]
    paused_until: datetime | None = None


def build(
    *,
    config_id: int,
    kind: SchedulerType,
    spec: specs.Spec | None,
    status: ScheduleStatus,
    note: str | None,
    status_at: datetime | None,
    next_runs: Sequence[datetime],
    history: Sequence[HistoryEvent],
    queue: str,
    who: Presence,
    now: datetime,
    open_alerts: Sequence[tuple[str, datetime]] = (),
    paused_until: datetime | None = None,
) -> Explanation:
    """The explanation from gathered state (no I/O)."""
    recorded = decisions_of(history)
    fired = last_fire(history)
    derived = held_back(spec, status, status_at, now, fired.due_at if fired else None)
    decisions = sorted([*derived, *recorded], key=lambda d: d.at, reverse=True)
    facts = Facts(
        now=now,
        kind=kind,
        status=status,
        note=note,
        status_at=status_at,
        next_runs=next_runs,
        decisions=decisions,
        last_event=history[0].event if history else None,
        last_error=_last_error(history),
        queue=queue,
        schedulers_alive=who.schedulers_alive,
        has_leader=who.has_leader,
        workers_serving=who.workers_serving,
        worker_last_seen=who.worker_last_seen,
        open_alerts=open_alerts,
        paused_until=paused_until,
    )
    return Explanation(
        config_id=config_id,
        status=status,
        note=note,
        status_at=status_at,
        verdict=verdict(facts),
        next_runs=list(next_runs),
        last_fire=fired,
        decisions=decisions[:DECISIONS_SHOWN],
        paused_until=paused_until,
    )


async def explain_config(
    scheduler: SchedulerService,
    config: ConfigRow,
    queue: str,
    *,
    stale_seconds: float,
    now: datetime | None = None,
    alerts: AlertStore | None = None,
) -> Explanation:
    """Gather the facts of one config (its read model, history and who is alive) and
    explain it: what ``GET /schedules/{id}/explain`` and ``taskplane inspect ID`` show."""
    now = now or datetime.now(UTC)
    info = await scheduler.info(config)
    history, _ = await scheduler.state.history(config.id, limit=HISTORY_READ)
    who = await presence(
        scheduler.redis, scheduler.keys, queue, stale_seconds=stale_seconds, now=now
    )
    return build(
        config_id=config.id,
        kind=SchedulerType(config.scheduler_type),
        spec=specs.stored(config.scheduler_type, config.schedule_config),
        status=info.status,
        note=info.note,
        status_at=info.status_at,
        next_runs=info.next_runs,
        history=history,
        queue=queue,
        who=who,
        now=now,
        open_alerts=[
            (str(i.kind), i.opened_at)
            for i in (await alerts.open_of(config.id) if alerts is not None else [])
        ],
        paused_until=info.paused_until,
    )
