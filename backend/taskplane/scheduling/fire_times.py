"""Fire times of a schedule spec (pure: no I/O, no clock): ``next_after``, ``next_n``,
``first_runs``, and ``occurrences``: the one answer to "the fire times of this schedule from
here", every rule applied (DST policy, exclusions, requested skips, jitter).

Due and send times. A due time is the schedule's own (cron, interval cadence, DST policy);
the task id and the dedup of a fire keep it. A due time whose local date is excluded
(``calendar.excluded``) or that was skipped on request does not fire; every other one is
sent at ``due + calendar.jitter_ms`` (0 without jitter). The engine asks ``verdict`` and
``send_ms`` per fire of a schedule with a calendar; ``next_runs``, previews, skip
validation, explain and backfill walk ``occurrences``.

Cron and DST. A cron expression is evaluated on the wall clock of its timezone, then mapped
to UTC instants by the schedule's DST policy (API.md, "DST policy"):
- a wall time that does not exist (spring forward: 02:30 in Europe/Berlin on the last Sunday
  of March) fires once at the first instant after the gap (03:00 CEST) with
  ``on_missing_time: shift`` (the default), and not at all that day with ``skip``;
- a wall time that occurs twice (fall back) fires once, at its first occurrence, with
  ``on_repeated_time: first`` (the default), and at each occurrence with ``both``.
An instant is never fired twice: several missing wall times that shift to the same instant
fire once.

Interval cadence is anchored: the next due is the previous due + interval (no drift).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from croniter import croniter

from taskplane.enums import SchedulerType
from taskplane.epoch import from_ms, to_ms
from taskplane.scheduling import calendar
from taskplane.scheduling.specs import OnMissingTime, OnRepeatedTime, Spec

CRON_REMEMBERED = 4096
"""Cron fire times kept (``functools.lru_cache``): one costs ~0.4 ms, and the schedules that
share an expression and a due time (all the "every minute" ones) share one per tick."""
_MAX_CRON_STEPS = 10_000  # candidates examined per next_after; DST skips need only a few
_ONE_SECOND = timedelta(seconds=1)
_MAX_FOLD = timedelta(hours=3)  # longer than any DST shift in the tz database


def next_after(spec: Spec, after: datetime) -> datetime | None:
    """The first fire time strictly after ``after`` (aware), as aware UTC; None if none."""
    after = _aware(after)
    if spec.kind is SchedulerType.INTERVAL:
        assert spec.interval_seconds is not None
        return datetime.fromtimestamp(after.timestamp() + spec.interval_seconds, UTC)
    if spec.kind is SchedulerType.DATE:
        return spec.run_at if spec.run_at is not None and spec.run_at > after else None
    if spec.kind is SchedulerType.CRON:
        return _cron_after(spec, after)
    return None


def next_n(spec: Spec, after: datetime, n: int) -> list[datetime]:
    """The next ``n`` fire times strictly after ``after`` (fewer when the schedule ends)."""
    out: list[datetime] = []
    current = _aware(after)
    for _ in range(max(n, 0)):
        nxt = next_after(spec, current)
        if nxt is None:
            break
        out.append(nxt)
        current = nxt
    return out


def first_runs(spec: Spec, now: datetime, n: int) -> list[datetime]:
    """The first ``n`` fires of a schedule started at ``now``: an interval that runs
    immediately fires at ``now`` first (as a start does), everything else from its next
    fire time on, leaving out excluded dates; ``[]`` for manual. Due times: a config not yet
    created has no id to derive a jitter from."""
    if spec.kind is SchedulerType.INTERVAL and spec.run_immediately and n > 0:
        start = _aware(now)
        return [start, *(o.due_at for o in upcoming(spec, n - 1, after=start))]
    return [o.due_at for o in upcoming(spec, n, after=now)]


EXCLUDED = "excluded"
REQUESTED = "requested"
MAX_SCAN = 100_000
"""Due times examined for one answer at most: a schedule whose every fire is excluded (a
cron of 25 December that excludes Christmas) ends the walk instead of looping for ever."""

Skips = Mapping[int, str]
"""A schedule's requested skips: {due ms: note}."""
NO_SKIPS: Skips = {}


class Occurrence(NamedTuple):
    """One due time of a schedule: when it is sent (``send_at``: due + jitter), or why not
    (``skipped``: ``EXCLUDED`` / ``REQUESTED``; ``detail``: the holiday's name / the note)."""

    due_at: datetime
    send_at: datetime
    skipped: str | None = None
    detail: str | None = None

    @property
    def fires(self) -> bool:
        return self.skipped is None


def verdict(spec: Spec, due_at: datetime, skips: Skips = NO_SKIPS) -> tuple[str, str | None] | None:
    """Why a due time does not fire (reason, detail), or None when it fires."""
    rules = spec.calendar
    if rules is not None and rules.has_exclusions:
        tz = ZoneInfo(spec.timezone) if spec.kind is SchedulerType.CRON else UTC
        found = calendar.excluded(rules, due_at.astimezone(tz).date())
        if found is not None:
            return EXCLUDED, found.holiday
    if skips:
        note = skips.get(to_ms(due_at))
        if note is not None:
            return REQUESTED, note or None
    return None


def send_ms(spec: Spec, config_id: int, due_ms: int) -> int:
    """When a due time is sent: due + its jitter (the due itself without jitter)."""
    rules = spec.calendar
    if rules is None or not rules.jitter_seconds:
        return due_ms
    return due_ms + calendar.jitter_ms(config_id, due_ms, rules.jitter_seconds)


def due_of(spec: Spec, config_id: int, score_ms: int, recorded_ms: int | None) -> int:
    """The due time of a due-index score: a jittered schedule's score is the send time of
    the due recorded beside it (``Keys.jittered_dues``) while the two agree; any other score
    (a fresh registration's, a schedule without jitter) is the due time itself."""
    if recorded_ms is not None and send_ms(spec, config_id, recorded_ms) == score_ms:
        return recorded_ms
    return score_ms


def occurrences(
    spec: Spec,
    *,
    after: datetime | None = None,
    first: datetime | None = None,
    config_id: int = 0,
    skips: Skips = NO_SKIPS,
) -> Iterator[Occurrence]:
    """The due times strictly after ``after`` (or from ``first`` on, included: a stored due
    time, the anchor of an interval's cadence), each with its send time or why it does not
    fire; ends with the schedule, or after ``MAX_SCAN`` due times."""
    if first is not None:
        due: datetime | None = _aware(first)
    elif after is not None:
        due = next_after(spec, after)
    else:
        raise ValueError("occurrences needs after or first")
    for _ in range(MAX_SCAN):
        if due is None:
            return
        due_ms = to_ms(due)
        why = verdict(spec, due, skips)
        sent = from_ms(send_ms(spec, config_id, due_ms))
        yield Occurrence(due, sent, *why) if why is not None else Occurrence(due, sent)
        due = next_after(spec, due)


def upcoming(
    spec: Spec,
    n: int,
    *,
    after: datetime | None = None,
    first: datetime | None = None,
    config_id: int = 0,
    skips: Skips = NO_SKIPS,
) -> list[Occurrence]:
    """The next ``n`` occurrences that fire (``occurrences``' arguments)."""
    found = occurrences(spec, after=after, first=first, config_id=config_id, skips=skips)
    return list(itertools.islice((o for o in found if o.fires), max(n, 0)))


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("an aware datetime is required")
    return moment.astimezone(UTC)


@functools.lru_cache(maxsize=CRON_REMEMBERED)
def _cron_after(spec: Spec, after: datetime) -> datetime | None:
    assert spec.cron is not None
    return _next_cron(
        spec.cron, ZoneInfo(spec.timezone), after, spec.on_missing_time, spec.on_repeated_time
    )


def _next_cron(
    expr: str,
    tz: ZoneInfo,
    after: datetime,
    on_missing: OnMissingTime = "shift",
    on_repeated: OnRepeatedTime = "first",
) -> datetime | None:
    # Walk the wall clock (naive local times) with croniter and map each candidate to its
    # instants by the DST policy (``_instants``); keep the first instant strictly after
    # `after`. Filtering on instants makes the result independent of croniter's own DST
    # handling. With "first" the instants rise with the wall clock, so the first one past
    # `after` is the answer. With "both" a repeated hour's second pass comes after later
    # wall times' first pass: near a fall-back the walk starts one fold earlier and keeps
    # the smallest instant of a fold's worth of candidates.
    near_fold = (
        on_repeated == "both"
        and after.astimezone(tz).utcoffset() != (after + _MAX_FOLD).astimezone(tz).utcoffset()
    )
    local = after.astimezone(tz).replace(tzinfo=None, microsecond=0, fold=0)
    start = local - _MAX_FOLD if near_fold else local
    it = croniter(expr, start - _ONE_SECOND)
    best: datetime | None = None
    best_wall: datetime | None = None
    for _ in range(_MAX_CRON_STEPS):
        try:
            wall = it.get_next(datetime)
        except Exception:  # croniter gives up on expressions that stop matching
            return best
        if best_wall is not None and wall > best_wall + _MAX_FOLD:
            return best
        for instant in _instants(wall, tz, on_missing, on_repeated):
            if instant > after and (best is None or instant < best):
                best, best_wall = instant, best_wall or wall
        if best is not None and not near_fold:
            return best
    return best


def _instants(
    wall: datetime, tz: ZoneInfo, on_missing: OnMissingTime, on_repeated: OnRepeatedTime
) -> list[datetime]:
    """The UTC instants at which the naive local ``wall`` fires under the DST policy."""
    first = wall.replace(tzinfo=tz, fold=0)
    second = wall.replace(tzinfo=tz, fold=1)
    if first.utcoffset() == second.utcoffset():  # an ordinary wall time
        return [first.astimezone(UTC)]
    early, late = sorted((first.astimezone(UTC), second.astimezone(UTC)))
    if early.astimezone(tz).replace(tzinfo=None) == wall:  # repeated: both read back
        return [early, late] if on_repeated == "both" else [early]
    # missing (a gap): zoneinfo reads it with the offset before (fold=0, the later
    # instant) or after (fold=1, the earlier) the change; the gap's end lies between
    if on_missing == "skip":
        return []
    return [_transition(early, late, tz)]


def _transition(early: datetime, late: datetime, tz: ZoneInfo) -> datetime:
    """The first instant in (early, late] whose offset is the one after the change."""
    after_offset = late.astimezone(tz).utcoffset()
    lo, hi = early, late
    while hi - lo > _ONE_SECOND:
        mid = lo + (hi - lo) / 2
        if mid.astimezone(tz).utcoffset() == after_offset:
            hi = mid
        else:
            lo = mid
    return hi.replace(microsecond=0)
