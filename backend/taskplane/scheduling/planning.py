"""Planning fires (pure, no I/O): what to send for a due schedule at a given instant.

``plan(spec, due_at, now)`` applies the misfire policy: dues missed while no scheduler ran
collapse to the latest one <= now, sent if at most ``ON_TIME_SECONDS`` late, else sent once
as a catch-up under ``misfire: once`` within ``misfire_grace_seconds``, else dropped; the
next due stays on the schedule's own cadence. The engine reads the time from a ``Clock``
(a fake one in tests), and tests table the maths with no Redis (arq's ``next_cron``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from taskplane.enums import SchedulerType
from taskplane.epoch import from_ms, to_ms
from taskplane.scheduling import specs
from taskplane.scheduling.fire_times import next_after

ON_TIME_SECONDS = 2.0
"""A fire sent at most this late is on time, whatever the misfire policy; later is a miss."""
_MAX_CATCH_UP_STEPS = 10_000


class Clock(Protocol):
    """Where the engine reads the time: the system clock, or a fake one in tests."""

    def now(self) -> datetime:
        """The current instant, aware UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Plan:
    """What to do with one due schedule at ``now``.

    ``fire_at``: the due instant to send now (None: send nothing). ``missed``: how many due
    instants are dropped by the misfire policy (``first_missed_at`` the earliest of them).
    ``next_due``: the score to store (None: the schedule is finished; remove it).
    """

    fire_at: datetime | None
    next_due: datetime | None
    missed: int = 0
    first_missed_at: datetime | None = None


def next_due_after(spec: specs.Spec, at: datetime) -> datetime | None:
    """The next fire strictly after ``at`` at the due index's resolution (whole ms).

    A fire time inside the same millisecond is not a new fire: a date whose ``run_at`` had
    sub-millisecond digits is stored rounded down, so ``next_after`` of its stored due time
    is the ``run_at`` itself. Storing that as the next score would leave the score unchanged,
    the fire script's compare-and-set would pass again on every tick, and the one fire would
    be sent forever (seen in dev mode with a ``run_date`` carrying microseconds).
    """
    nxt = next_after(spec, at)
    while nxt is not None and to_ms(nxt) <= to_ms(at):
        nxt = next_after(spec, nxt)
    return nxt


def latest_due(spec: specs.Spec, due_at: datetime, now: datetime) -> tuple[datetime, int]:
    """The last due instant <= ``now`` from ``due_at`` on (``due_at`` itself if later), and
    how many due instants come before it. Intervals are O(1); cron walks its fire times,
    jumping close to ``now`` after a long outage."""
    if now <= due_at:
        return due_at, 0
    if spec.kind is SchedulerType.INTERVAL:
        assert spec.interval_seconds is not None
        step_ms = spec.interval_seconds * 1000
        k = (to_ms(now) - to_ms(due_at)) // step_ms
        return from_ms(to_ms(due_at) + k * step_ms), int(k)
    if spec.kind is not SchedulerType.CRON:
        return due_at, 0
    latest, before = due_at, 0
    for _ in range(_MAX_CATCH_UP_STEPS):
        nxt = next_after(spec, latest)
        if nxt is None or nxt > now:
            return latest, before
        latest, before = nxt, before + 1
    # An outage of more than _MAX_CATCH_UP_STEPS fires: find the last fire before now
    # from a window that holds every fire a misfire policy could still send.
    window = timedelta(seconds=max(spec.misfire_grace_seconds, ON_TIME_SECONDS) + 1)
    probe = next_after(spec, now - window)
    while probe is not None and probe <= now:
        latest, before = probe, before + 1
        probe = next_after(spec, probe)
    return latest, before


def plan(
    spec: specs.Spec,
    due_at: datetime,
    now: datetime,
    *,
    on_time_seconds: float = ON_TIME_SECONDS,
) -> Plan:
    """Apply the misfire policy to a schedule whose stored due time is ``due_at``.

    Fires that fell due while no scheduler ran collapse to the latest one (never a burst).
    It is sent if it is at most ``on_time_seconds`` late; if later, it is sent as the one
    catch-up fire under ``misfire: once`` when within ``misfire_grace_seconds``, and dropped
    otherwise (and always under ``misfire: skip``). The next due time is anchored on the
    schedule's own cadence, so the cadence goes on after any outage.
    """
    latest, before = latest_due(spec, due_at, now)
    next_due = next_due_after(spec, latest)
    lateness = (now - latest).total_seconds()
    on_time = lateness <= on_time_seconds
    catch_up = spec.misfire == "once" and lateness <= spec.misfire_grace_seconds
    if on_time or catch_up:
        return Plan(
            fire_at=latest,
            next_due=next_due,
            missed=before,
            first_missed_at=due_at if before else None,
        )
    return Plan(fire_at=None, next_due=next_due, missed=before + 1, first_missed_at=due_at)


def plan_every(
    step_ms: int,
    due_ms: int,
    now_ms: int,
    now_us: int,
    *,
    on_time_seconds: float = ON_TIME_SECONDS,
    misfire_grace_seconds: int | None = None,
) -> tuple[int | None, int, int]:
    """``plan`` of an interval schedule (step ``step_ms`` > 0) in whole numbers: the due
    time stored ``due_ms``, the time now in ms (``to_ms``) and in µs since the epoch.
    ``misfire_grace_seconds``: the grace of ``misfire: once`` (None under ``skip``).

    Returns (the due ms to send or None, the next due ms, how many due instants are
    dropped); the same answers as ``plan`` (tests hold them to it) without a datetime per
    fire, which was most of an on-time fire's planning cost."""
    if now_us <= due_ms * 1000:
        latest, before = due_ms, 0
    else:
        k = (now_ms - due_ms) // step_ms
        latest, before = due_ms + k * step_ms, k
    lateness = (now_us - latest * 1000) / 1_000_000  # as timedelta.total_seconds() rounds
    if lateness <= on_time_seconds or (
        misfire_grace_seconds is not None and lateness <= misfire_grace_seconds
    ):
        return latest, latest + step_ms, before
    return None, latest + step_ms, before + 1
