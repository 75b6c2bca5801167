"""The DST policy of cron schedules (API.md "DST policy"), driven through the engine's own
planning on a fake clock, at real transitions: Europe/Berlin and America/New_York (one hour)
and Australia/Lord_Howe (thirty minutes). Parameter tables, no I/O."""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter
from hypothesis import given, settings
from hypothesis import strategies as st

from taskplane.enums import SchedulerType
from taskplane.errors import InvalidInput
from taskplane.scheduling import fire_times, spec_labels, specs
from taskplane.scheduling.planning import plan
from tests.scheduling.strategies import cron_expressions

# (zone, spring-forward day, fall-back day) in 2026
TRANSITIONS = {
    "Europe/Berlin": (date(2026, 3, 29), date(2026, 10, 25)),
    "America/New_York": (date(2026, 3, 8), date(2026, 11, 1)),
    "Australia/Lord_Howe": (date(2026, 10, 4), date(2026, 4, 5)),
}


def cron(expr: str, zone: str, **policy: str) -> specs.Spec:
    config = {"cron_expression": expr, "timezone": zone, **policy}
    return specs.parse(SchedulerType.CRON, config)


def fires(spec: specs.Spec, start: datetime, end: datetime, step_s: float = 60) -> list[datetime]:
    """What the engine sends between start and end, its clock stepping ``step_s`` at a time:
    the due index starts at the first fire after ``start``; each due one is planned."""
    due = fire_times.next_after(spec, start)
    sent: list[datetime] = []
    now = start
    while now < end and due is not None:
        now += timedelta(seconds=step_s)
        while due is not None and due <= now:
            result = plan(spec, due, now)
            if result.fire_at is not None:
                sent.append(result.fire_at)
            due = result.next_due
    return sent


def local_days(sent: list[datetime], zone: str) -> Counter[date]:
    return Counter(t.astimezone(ZoneInfo(zone)).date() for t in sent)


def around(day: date, zone: str, days: int = 3) -> tuple[datetime, datetime]:
    tz = ZoneInfo(zone)
    start = datetime(day.year, day.month, day.day, tzinfo=tz) - timedelta(days=days)
    return start.astimezone(UTC), (start + timedelta(days=2 * days + 1)).astimezone(UTC)


def wall(t: datetime, zone: str) -> str:
    return t.astimezone(ZoneInfo(zone)).strftime("%H:%M%z")


@pytest.mark.parametrize(
    ("zone", "expr", "policy", "expected_wall"),
    [
        # a daily job inside the spring-forward gap: once at the gap's end, or not at all
        ("Europe/Berlin", "30 2 * * *", "shift", "03:00+0200"),
        ("Europe/Berlin", "30 2 * * *", "skip", None),
        ("America/New_York", "30 2 * * *", "shift", "03:00-0400"),
        ("America/New_York", "30 2 * * *", "skip", None),
        # Lord Howe moves 02:00 -> 02:30: 02:15 does not exist, 02:30 does
        ("Australia/Lord_Howe", "15 2 * * *", "shift", "02:30+1100"),
        ("Australia/Lord_Howe", "15 2 * * *", "skip", None),
        ("Australia/Lord_Howe", "30 2 * * *", "skip", "02:30+1100"),
    ],
)
def test_a_daily_job_in_the_spring_gap_follows_on_missing_time(
    zone: str, expr: str, policy: str, expected_wall: str | None
) -> None:
    spring, _ = TRANSITIONS[zone]
    sent = fires(cron(expr, zone, on_missing_time=policy), *around(spring, zone))
    per_day = local_days(sent, zone)
    on_the_day = [t for t in sent if t.astimezone(ZoneInfo(zone)).date() == spring]
    assert [wall(t, zone) for t in on_the_day] == ([expected_wall] if expected_wall else [])
    assert all(n == 1 for d, n in per_day.items() if d != spring), per_day
    assert len(per_day) == (7 if expected_wall else 6)  # every other day exactly once


@pytest.mark.parametrize(
    ("zone", "expr", "policy", "expected_walls"),
    [
        ("America/New_York", "30 1 * * *", "first", ["01:30-0400"]),
        ("America/New_York", "30 1 * * *", "both", ["01:30-0400", "01:30-0500"]),
        ("Europe/Berlin", "30 2 * * *", "first", ["02:30+0200"]),
        ("Europe/Berlin", "30 2 * * *", "both", ["02:30+0200", "02:30+0100"]),
        # Lord Howe falls back 02:00 -> 01:30: 01:45 happens twice, half an hour apart
        ("Australia/Lord_Howe", "45 1 * * *", "first", ["01:45+1100"]),
        ("Australia/Lord_Howe", "45 1 * * *", "both", ["01:45+1100", "01:45+1030"]),
    ],
)
def test_a_daily_job_in_the_repeated_hour_follows_on_repeated_time(
    zone: str, expr: str, policy: str, expected_walls: list[str]
) -> None:
    _, fall = TRANSITIONS[zone]
    sent = fires(cron(expr, zone, on_repeated_time=policy), *around(fall, zone))
    on_the_day = [t for t in sent if t.astimezone(ZoneInfo(zone)).date() == fall]
    assert [wall(t, zone) for t in on_the_day] == expected_walls
    if policy == "both":  # an hour apart (thirty minutes at Lord Howe), never closer
        gap = on_the_day[1] - on_the_day[0]
        assert gap == (timedelta(minutes=30) if "Lord" in zone else timedelta(hours=1))
    per_day = local_days(sent, zone)
    assert all(n == 1 for d, n in per_day.items() if d != fall), per_day
    assert len(per_day) == 7


def oracle(
    matches: Callable[[datetime], bool],
    zone: str,
    start: datetime,
    end: datetime,
    on_missing: str,
    on_repeated: str,
) -> list[datetime]:
    """The fires the policy asks for, by brute force over every UTC minute: a wall time the
    clock shows fires (the second showing of a repeated one only with "both"); a gap holding
    a matching wall time fires once at its end with "shift"."""
    tz = ZoneInfo(zone)
    out: set[datetime] = set()
    t = start.replace(second=0, microsecond=0)
    while t <= end:
        local = t.astimezone(tz)
        shown = local.replace(tzinfo=None)
        if matches(shown) and not (local.fold == 1 and on_repeated == "first"):
            out.add(t)
        nxt = t + timedelta(minutes=1)
        jump = nxt.astimezone(tz).replace(tzinfo=None) - shown
        if jump > timedelta(minutes=1) and on_missing == "shift":
            skipped = (shown + timedelta(minutes=k) for k in range(1, jump // timedelta(minutes=1)))
            if any(matches(w) for w in skipped):
                out.add(nxt)
        t = nxt
    return sorted(out)


@pytest.mark.parametrize("zone", sorted(TRANSITIONS))
@pytest.mark.parametrize(
    ("expr", "matches"),
    [
        ("0 * * * *", lambda w: w.minute == 0),
        ("*/15 * * * *", lambda w: w.minute % 15 == 0),
        ("30 * * * *", lambda w: w.minute == 30),
    ],
)
@pytest.mark.parametrize("on_missing", ["shift", "skip"])
@pytest.mark.parametrize("on_repeated", ["first", "both"])
def test_hourly_and_quarter_hourly_jobs_across_both_transitions(
    zone: str, expr: str, matches: Callable[[datetime], bool], on_missing: str, on_repeated: str
) -> None:
    spec = cron(expr, zone, on_missing_time=on_missing, on_repeated_time=on_repeated)
    for day in TRANSITIONS[zone]:
        start, end = around(day, zone, days=1)
        sent = fires(spec, start, end, step_s=300)
        # no double: every instant once, in order
        assert sent == sorted(set(sent)), "an instant was fired twice or out of order"
        # no gap beyond the policy: exactly the fires the policy asks for, no more, no less
        expected = oracle(matches, zone, start, end, on_missing, on_repeated)
        expected = [t for t in expected if t > start and t <= sent[-1]]
        assert sent == expected, (day, sorted(set(sent) ^ set(expected)))


def test_the_policy_is_stored_with_the_registration() -> None:
    spec = cron("30 2 * * *", "Europe/Berlin", on_missing_time="skip", on_repeated_time="both")
    assert spec_labels.from_labels(spec_labels.to_labels(spec)) == spec
    # a registration made before the policy existed reads as the defaults
    labels = spec_labels.to_labels(cron("30 2 * * *", "Europe/Berlin"))
    labels.pop("on_missing_time"), labels.pop("on_repeated_time")
    old = spec_labels.from_labels(labels)
    assert (old.on_missing_time, old.on_repeated_time) == ("shift", "first")


@pytest.mark.parametrize(
    ("kind", "config", "field"),
    [
        ("cron", {"cron_expression": "0 2 * * *", "on_missing_time": "later"}, "on_missing_time"),
        ("cron", {"cron_expression": "0 2 * * *", "on_repeated_time": 2}, "on_repeated_time"),
        ("interval", {"seconds": 60, "on_missing_time": "skip"}, "on_missing_time"),
        (
            "date",
            {"run_date": "2099-01-01T00:00:00Z", "on_repeated_time": "both"},
            "on_repeated_time",
        ),
        ("manual", {"on_missing_time": "shift"}, "on_missing_time"),
    ],
)
def test_a_bad_or_misplaced_policy_is_refused_naming_it(
    kind: str, config: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        specs.parse(kind, config)
    assert [e.loc for e in caught.value.errors] == [("schedule_config", field)]


DST_ZONES = [*sorted(TRANSITIONS), "Europe/London", "America/Santiago", "Pacific/Chatham"]


@functools.cache
def offset_changes_2026(zone: str) -> list[datetime]:
    """The instants (to the hour) in 2026 at which the zone's UTC offset changes."""
    tz = ZoneInfo(zone)
    t = datetime(2026, 1, 1, tzinfo=UTC)
    out = []
    while t.year == 2026:
        if t.astimezone(tz).utcoffset() != (t + timedelta(hours=1)).astimezone(tz).utcoffset():
            out.append(t)
        t += timedelta(hours=1)
    return out


def _matches(expr: str, wall_time: datetime) -> bool:
    return bool(croniter.match(expr, wall_time))


@settings(max_examples=40, deadline=None, derandomize=True, database=None)
@given(
    expr=cron_expressions.filter(lambda e: e.split()[2:4] == ["*", "*"]),
    zone=st.sampled_from(DST_ZONES),
    day=st.integers(0, 364),
    near_a_change=st.booleans(),
    hours_before=st.integers(0, 36),
    on_missing=st.sampled_from(["shift", "skip"]),
    on_repeated=st.sampled_from(["first", "both"]),
)
def test_every_fire_is_a_wall_time_the_clock_shows_or_a_shifted_gap(
    expr: str,
    zone: str,
    day: int,
    near_a_change: bool,
    hours_before: int,
    on_missing: str,
    on_repeated: str,
) -> None:
    # over a year of days (one sampled day each), with every policy: fires strictly rise,
    # each one is a wall time that exists and matches, or (shift) the end of a gap that held
    # a matching wall time; with "first" no wall time fires twice
    spec = cron(expr, zone, on_missing_time=on_missing, on_repeated_time=on_repeated)
    tz = ZoneInfo(zone)
    after = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=day)
    if near_a_change:  # half the examples start up to a day and a half before a DST change
        changes = offset_changes_2026(zone)
        after = changes[day % len(changes)] - timedelta(hours=hours_before)
    times = fire_times.next_n(spec, after, 30)
    assert times and all(a < b for a, b in zip([after, *times], times, strict=False))
    walls = Counter(t.astimezone(tz).replace(tzinfo=None) for t in times)
    for t in times:
        shown = t.astimezone(tz).replace(tzinfo=None)
        if _matches(expr, shown):
            continue
        # not a matching wall time: only a shift to the end of a gap explains it
        assert on_missing == "shift", (expr, zone, t)
        before = (t - timedelta(seconds=1)).astimezone(tz).replace(tzinfo=None)
        gap = shown - before - timedelta(seconds=1)
        assert gap > timedelta(0), f"{t} is no gap's end"
        steps = int(gap / timedelta(minutes=1))
        assert any(_matches(expr, shown - timedelta(minutes=k)) for k in range(1, steps + 1))
    if on_repeated == "first":
        assert max(walls.values()) == 1
