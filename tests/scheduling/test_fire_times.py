"""Fire times of a spec (cron with its DST policy, interval, date): parameter tables, no I/O."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from taskplane.enums import SchedulerType
from taskplane.scheduling import fire_times
from taskplane.scheduling.specs import Spec


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


BERLIN_DAILY_0230 = Spec(SchedulerType.CRON, cron="30 2 * * *", timezone="Europe/Berlin")
BERLIN_HOURLY_30 = Spec(SchedulerType.CRON, cron="30 * * * *", timezone="Europe/Berlin")
NY_DAILY_0900 = Spec(SchedulerType.CRON, cron="0 9 * * *", timezone="America/New_York")


@pytest.mark.parametrize(
    ("spec", "after", "expected"),
    [
        # Europe/Berlin spring forward 2026-03-29 02:00 CET -> 03:00 CEST: 02:30 does not
        # exist that day; on_missing_time "shift" (the default) fires it once, at the first
        # instant after the gap (03:00 CEST = 01:00 UTC).
        (
            BERLIN_DAILY_0230,
            utc(2026, 3, 27, 0, 0),
            [
                utc(2026, 3, 27, 1, 30),
                utc(2026, 3, 28, 1, 30),
                utc(2026, 3, 29, 1, 0),
                utc(2026, 3, 30, 0, 30),
            ],
        ),
        # hourly at :30 across the gap: 01:30 CET, then 02:30 shifted to 03:00 CEST, 03:30
        (
            BERLIN_HOURLY_30,
            utc(2026, 3, 28, 23, 0),
            [
                utc(2026, 3, 28, 23, 30),
                utc(2026, 3, 29, 0, 30),
                utc(2026, 3, 29, 1, 0),
                utc(2026, 3, 29, 1, 30),
            ],
        ),
        # fall back 2026-10-25 03:00 CEST -> 02:00 CET: 02:30 occurs twice, fires once
        # (first occurrence, 02:30 CEST = 00:30 UTC); the day after is back to 01:30 UTC.
        (
            BERLIN_DAILY_0230,
            utc(2026, 10, 24, 0, 0),
            [utc(2026, 10, 24, 0, 30), utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)],
        ),
        (
            BERLIN_HOURLY_30,
            utc(2026, 10, 24, 23, 0),
            [utc(2026, 10, 24, 23, 30), utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 2, 30)],
        ),
        # after is inside the repeated hour (second pass): no fire goes back in time
        (BERLIN_HOURLY_30, utc(2026, 10, 25, 1, 10), [utc(2026, 10, 25, 2, 30)]),
        # America/New_York 2026-03-08 spring forward: 09:00 moves from 14:00 to 13:00 UTC
        (
            NY_DAILY_0900,
            utc(2026, 3, 7, 0, 0),
            [utc(2026, 3, 7, 14, 0), utc(2026, 3, 8, 13, 0), utc(2026, 3, 9, 13, 0)],
        ),
        (
            Spec(SchedulerType.CRON, cron="*/15 * * * *"),
            utc(2026, 1, 1, 10, 0),
            [utc(2026, 1, 1, 10, 15), utc(2026, 1, 1, 10, 30)],
        ),
        (
            Spec(SchedulerType.CRON, cron="0 10 * * *"),
            datetime(2026, 1, 1, 9, 59, 59, 500_000, tzinfo=UTC),
            [utc(2026, 1, 1, 10, 0)],
        ),
        (
            Spec(SchedulerType.INTERVAL, interval_seconds=90),
            utc(2026, 1, 1, 0, 0),
            [utc(2026, 1, 1, 0, 1, 30), utc(2026, 1, 1, 0, 3, 0), utc(2026, 1, 1, 0, 4, 30)],
        ),
        (Spec(SchedulerType.DATE, run_at=utc(2026, 12, 1)), utc(2026, 1, 1), [utc(2026, 12, 1)]),
        (Spec(SchedulerType.DATE, run_at=utc(2026, 12, 1)), utc(2026, 12, 1), []),
        (Spec(SchedulerType.MANUAL), utc(2026, 1, 1), []),
    ],
)
def test_next_n(spec: Spec, after: datetime, expected: list[datetime]) -> None:
    got = fire_times.next_n(spec, after, len(expected) or 3)
    assert got == expected
    assert all(t.tzinfo is not None and t.utcoffset() == timedelta(0) for t in got)


def test_next_after_is_strictly_after() -> None:
    spec = Spec(SchedulerType.CRON, cron="0 10 * * *")
    assert fire_times.next_after(spec, utc(2026, 1, 1, 10, 0)) == utc(2026, 1, 2, 10, 0)
    interval = Spec(SchedulerType.INTERVAL, interval_seconds=5)
    assert fire_times.next_after(interval, utc(2026, 1, 1)) == utc(2026, 1, 1, 0, 0, 5)


def test_next_after_accepts_other_offsets_and_refuses_naive() -> None:
    spec = Spec(SchedulerType.CRON, cron="0 * * * *")
    berlin = datetime(2026, 1, 1, 10, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    assert fire_times.next_after(spec, berlin) == utc(2026, 1, 1, 10, 0)
    with pytest.raises(ValueError, match="aware"):
        fire_times.next_after(spec, datetime(2026, 1, 1))


def test_a_cron_fire_time_is_computed_once_for_every_caller() -> None:
    """The engine's plans, the read model's next runs and the preview share one memo: the
    schedules that share an expression and a due time cost one computation."""
    fire_times._cron_after.cache_clear()
    spec = Spec(SchedulerType.CRON, cron="*/5 * * * *", timezone="Europe/Berlin")
    after = utc(2026, 1, 1, 10, 1)
    in_berlin = after.astimezone(ZoneInfo("Europe/Berlin"))  # the same instant, other offset
    assert fire_times.next_after(spec, after) == utc(2026, 1, 1, 10, 5)
    assert fire_times.next_after(spec, in_berlin) == utc(2026, 1, 1, 10, 5)
    equal = dataclasses.replace(spec)  # another object, the same spec
    assert equal is not spec and fire_times.next_after(equal, after) == utc(2026, 1, 1, 10, 5)
    info = fire_times._cron_after.cache_info()
    assert (info.misses, info.hits) == (1, 2)
