"""The engine's pure planning: misfire policy, catch-up collapse, anchored cadence, cron in a
timezone across DST. Parameter tables, no I/O, no clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from taskplane.enums import SchedulerType
from taskplane.scheduling import fire_times, spec_labels, specs
from taskplane.scheduling.planning import Plan, latest_due, plan

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def s(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def interval(seconds: int, **policy: object) -> specs.Spec:
    return specs.Spec(kind=SchedulerType.INTERVAL, interval_seconds=seconds, **policy)  # type: ignore[arg-type]


def cron(expr: str, tz: str = "UTC", **policy: object) -> specs.Spec:
    return specs.Spec(kind=SchedulerType.CRON, cron=expr, timezone=tz, **policy)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("spec", "due", "now", "expected"),
    [
        # on time: fire the due instant, next = due + interval (anchored, not now + interval)
        (interval(10), s(0), s(0.3), Plan(s(0), s(10))),
        (interval(10), s(0), s(1.9), Plan(s(0), s(10))),
        # late beyond on-time tolerance, within grace (default once/60 s): one catch-up fire
        (interval(10), s(0), s(5), Plan(s(0), s(10))),
        # an outage of many intervals collapses to the latest due; the rest are missed
        (interval(10), s(0), s(45), Plan(s(40), s(50), missed=4, first_missed_at=s(0))),
        # latest missed due is beyond grace: nothing sent, cadence goes on
        (
            interval(100, misfire_grace_seconds=30),
            s(0),
            s(50),
            Plan(None, s(100), missed=1, first_missed_at=s(0)),
        ),
        # skip: a late fire is dropped even within grace ...
        (
            interval(10, misfire="skip"),
            s(0),
            s(5),
            Plan(None, s(10), missed=1, first_missed_at=s(0)),
        ),
        # ... but the latest due that is on time is still sent
        (
            interval(10, misfire="skip"),
            s(0),
            s(30.5),
            Plan(s(30), s(40), missed=3, first_missed_at=s(0)),
        ),
        (interval(10, misfire="skip"), s(0), s(1), Plan(s(0), s(10))),
        # grace 0 under once behaves like skip past the on-time tolerance
        (
            interval(10, misfire_grace_seconds=0),
            s(0),
            s(3),
            Plan(None, s(10), missed=1, first_missed_at=s(0)),
        ),
        # cron: on time, and a catch-up after an outage
        (cron("* * * * *"), s(0), s(0.5), Plan(s(0), s(60))),
        (cron("* * * * *"), s(0), s(150), Plan(s(120), s(180), missed=2, first_missed_at=s(0))),
        (
            cron("* * * * *", misfire="skip"),
            s(0),
            s(150),
            Plan(None, s(180), missed=3, first_missed_at=s(0)),
        ),
    ],
)
def test_plan_applies_misfire_policy(
    spec: specs.Spec, due: datetime, now: datetime, expected: Plan
) -> None:
    assert plan(spec, due, now) == expected


@pytest.mark.parametrize(
    ("misfire", "late", "fires"),
    [("once", 59, True), ("once", 61, False), ("skip", 59, False), ("skip", 1, True)],
)
def test_date_schedule_fires_once_or_is_dropped(misfire: str, late: float, fires: bool) -> None:
    spec = specs.Spec(kind=SchedulerType.DATE, run_at=s(0), misfire=misfire)  # type: ignore[arg-type]
    result = plan(spec, s(0), s(late))
    assert result.next_due is None  # finished either way
    assert (result.fire_at == s(0)) is fires
    assert result.missed == (0 if fires else 1)


def test_interval_catch_up_is_constant_time_over_a_long_outage() -> None:
    spec = interval(1)
    latest, before = latest_due(spec, s(0), s(10 * 86400 + 0.5))
    assert latest == s(10 * 86400)
    assert before == 10 * 86400


def test_cron_catch_up_after_a_very_long_outage_finds_the_latest_fire() -> None:
    spec = cron("* * * * *")
    now = s(30 * 86400 + 10)  # 43,200 missed minutes: more than the step cap
    result = plan(spec, s(0), now)
    assert result.fire_at == s(30 * 86400)
    assert result.next_due == s(30 * 86400 + 60)


def _fire_sequence(spec: specs.Spec, start: datetime, end: datetime, step_s: float) -> list[str]:
    """Drive `plan` like the engine does, on a fake clock stepping `step_s` seconds."""
    due = fire_times.next_after(spec, start)
    fired: list[str] = []
    now = start
    while now < end and due is not None:
        now += timedelta(seconds=step_s)
        if due <= now:
            result = plan(spec, due, now)
            if result.fire_at is not None:
                fired.append(result.fire_at.isoformat())
            due = result.next_due
    return fired


def test_cron_with_timezone_is_right_across_spring_forward() -> None:
    # Europe/Berlin, 2026-03-29: 02:00 CET -> 03:00 CEST. "30 * * * *" fires every hour
    # at :30 local; 02:30 does not exist and shifts to the end of the gap (03:00 CEST).
    spec = cron("30 * * * *", "Europe/Berlin")
    fired = _fire_sequence(
        spec, datetime(2026, 3, 28, 23, 0, tzinfo=UTC), datetime(2026, 3, 29, 3, 0, tzinfo=UTC), 10
    )
    assert fired == [
        "2026-03-28T23:30:00+00:00",  # 00:30 CET
        "2026-03-29T00:30:00+00:00",  # 01:30 CET
        "2026-03-29T01:00:00+00:00",  # 02:30 does not exist: 03:00 CEST
        "2026-03-29T01:30:00+00:00",  # 03:30 CEST
        "2026-03-29T02:30:00+00:00",  # 04:30 CEST
    ]


def test_cron_with_timezone_is_right_across_fall_back() -> None:
    # America/New_York, 2026-11-01: 02:00 EDT -> 01:00 EST. A daily 01:30 fires once, at
    # its first occurrence (05:30 UTC); a daily 09:00 moves from 13:00 UTC to 14:00 UTC.
    daily = cron("30 1 * * *", "America/New_York")
    fired = _fire_sequence(
        daily, datetime(2026, 10, 31, 0, 0, tzinfo=UTC), datetime(2026, 11, 2, 12, tzinfo=UTC), 60
    )
    assert fired == [
        "2026-10-31T05:30:00+00:00",
        "2026-11-01T05:30:00+00:00",
        "2026-11-02T06:30:00+00:00",
    ]
    morning = cron("0 9 * * *", "America/New_York")
    fired = _fire_sequence(
        morning, datetime(2026, 10, 31, 0, tzinfo=UTC), datetime(2026, 11, 2, 23, tzinfo=UTC), 60
    )
    assert fired == [
        "2026-10-31T13:00:00+00:00",
        "2026-11-01T14:00:00+00:00",
        "2026-11-02T14:00:00+00:00",
    ]


@pytest.mark.parametrize("microseconds", [1, 336, 499, 500, 999])
def test_date_with_sub_millisecond_run_at_is_finished_after_its_fire(microseconds: int) -> None:
    # the due index stores whole milliseconds: 12:00:00.000336 is stored as 12:00:00.000, and
    # a plan whose next due is the same run_at again would fire it on every tick, forever
    run_at = s(0) + timedelta(microseconds=microseconds)
    spec = specs.Spec(kind=SchedulerType.DATE, run_at=run_at)
    stored = datetime.fromtimestamp(round(run_at.timestamp() * 1000) / 1000, UTC)
    result = plan(spec, stored, stored + timedelta(milliseconds=30))
    assert result.fire_at == stored
    assert result.next_due is None


def test_a_parsed_run_date_is_kept_at_whole_milliseconds() -> None:
    now = s(0)
    spec = specs.parse(
        SchedulerType.DATE, {"run_date": "2026-01-01T12:00:10.511336+00:00"}, now=now
    )
    assert spec.run_at == s(10.511)


def test_a_registration_is_parsed_once_while_its_text_is_the_same() -> None:
    import json

    from taskiq import ScheduledTask

    from taskplane.scheduling.templates import Registrations

    def registration(seconds: int) -> str:
        labels = {
            **spec_labels.to_labels(interval(seconds)),
            "task_type": "echo",
            "config_id": 7,
            "queue": "default",
        }
        task = ScheduledTask(
            task_name="taskplane:echo",
            labels=labels,
            args=[],
            kwargs={"message": "hi"},
            schedule_id="taskplane-config-7",
            interval=seconds,
        )
        return json.dumps(task.model_dump(mode="json"))

    cache = Registrations()
    first = cache.read(7, registration(10))
    assert cache.read(7, registration(10)) is first  # the same text: not parsed again
    replaced = cache.read(7, registration(20))  # a replaced registration: parsed anew
    assert replaced is not first and replaced[0].interval_seconds == 20
    with pytest.raises(ValueError):
        cache.read(8, "{not json")
    assert cache.read(7, registration(20)) is replaced
