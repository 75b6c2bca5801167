"""Schedule specs: parameter tables, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from taskplane.enums import SchedulerType
from taskplane.errors import InvalidInput
from taskplane.scheduling import specs
from taskplane.scheduling.specs import Spec

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


@pytest.mark.parametrize(
    ("kind", "config", "expected"),
    [
        ("cron", {"cron_expression": "*/5 * * * *"}, Spec(SchedulerType.CRON, cron="*/5 * * * *")),
        (
            "cron",
            {"cron_expression": " 0  9 * * 1-5 "},
            Spec(SchedulerType.CRON, cron="0 9 * * 1-5"),
        ),
        ("cron", {"minute": "0", "hour": "9"}, Spec(SchedulerType.CRON, cron="0 9 * * *")),
        ("cron", {}, Spec(SchedulerType.CRON, cron="* * * * *")),
        ("cron", {"minute": 15}, Spec(SchedulerType.CRON, cron="15 * * * *")),
        (
            "cron",
            {"cron_expression": "0 0 * mar-apr thu"},
            Spec(SchedulerType.CRON, cron="0 0 * mar-apr thu"),
        ),
        ("cron", {"cron_expression": "0 0 L * *"}, Spec(SchedulerType.CRON, cron="0 0 L * *")),
        (
            "cron",
            {"cron_expression": "0 3 * * *", "timezone": "Europe/Berlin", "overlap": "skip"},
            Spec(SchedulerType.CRON, cron="0 3 * * *", timezone="Europe/Berlin", overlap="skip"),
        ),
        ("interval", {"seconds": 30}, Spec(SchedulerType.INTERVAL, interval_seconds=30)),
        (
            "interval",
            {"seconds": 5, "minutes": 1, "hours": 1, "days": 1},
            Spec(SchedulerType.INTERVAL, interval_seconds=86400 + 3600 + 60 + 5),
        ),
        ("interval", {"minutes": 2}, Spec(SchedulerType.INTERVAL, interval_seconds=120)),
        ("interval", {"seconds": 2.0}, Spec(SchedulerType.INTERVAL, interval_seconds=2)),
        (
            "interval",
            {"seconds": 1, "run_immediately": False, "misfire": "skip"},
            Spec(SchedulerType.INTERVAL, interval_seconds=1, run_immediately=False, misfire="skip"),
        ),
        (
            "interval",
            {"seconds": 10, "misfire_grace_seconds": 0},
            Spec(SchedulerType.INTERVAL, interval_seconds=10, misfire_grace_seconds=0),
        ),
        (
            "date",
            {"run_date": "2026-12-01T10:00:00+00:00"},
            Spec(SchedulerType.DATE, run_at=utc(2026, 12, 1, 10)),
        ),
        (
            "date",
            {"run_date": "2026-12-01T10:00:00"},  # naive = UTC
            Spec(SchedulerType.DATE, run_at=utc(2026, 12, 1, 10)),
        ),
        (
            "date",
            {"run_date": "2026-12-01T11:00:00+01:00"},
            Spec(SchedulerType.DATE, run_at=utc(2026, 12, 1, 10)),
        ),
        (
            "date",
            {"run_date": "2026-12-01T10:00:00Z", "misfire_grace_seconds": 86400},
            Spec(SchedulerType.DATE, run_at=utc(2026, 12, 1, 10), misfire_grace_seconds=86400),
        ),
        ("manual", {}, Spec(SchedulerType.MANUAL)),
    ],
)
def test_parse_valid(kind: str, config: dict[str, Any], expected: Spec) -> None:
    assert specs.parse(kind, config, now=NOW) == expected


@pytest.mark.parametrize(
    ("kind", "config", "field"),
    [
        ("cron", {"cron_expression": "* * * *"}, "cron_expression"),
        ("cron", {"cron_expression": "* * * * * *"}, "cron_expression"),
        ("cron", {"cron_expression": "61 * * * *"}, "cron_expression"),
        ("cron", {"cron_expression": "0 0 30 2 *"}, "cron_expression"),
        ("cron", {"cron_expression": "@daily"}, "cron_expression"),
        ("cron", {"cron_expression": "R * * * *"}, "cron_expression"),
        ("cron", {"cron_expression": "H(0-30) * * * *"}, "cron_expression"),
        ("cron", {"minute": "r"}, "minute"),
        ("cron", {"cron_expression": 5}, "cron_expression"),
        ("cron", {"cron_expression": "* * * * *", "minute": "1"}, "cron_expression"),
        ("cron", {"minute": "60"}, "minute"),
        ("cron", {"hour": "24"}, "hour"),
        ("cron", {"day": "0"}, "day"),
        ("cron", {"month": "13"}, "month"),
        ("cron", {"day_of_week": "8"}, "day_of_week"),
        ("cron", {"minute": "1 2"}, "minute"),
        ("cron", {"day": "31", "month": "2"}, "day"),
        ("cron", {"timezone": "Mars/Olympus"}, "timezone"),
        ("cron", {"timezone": "../../etc/passwd"}, "timezone"),
        ("cron", {"timezone": 1}, "timezone"),
        ("cron", {"seconds": 5}, "seconds"),
        ("cron", {"misfire": "always"}, "misfire"),
        ("cron", {"overlap": "queue"}, "overlap"),
        ("cron", {"misfire_grace_seconds": -1}, "misfire_grace_seconds"),
        ("cron", {"misfire_grace_seconds": 86401}, "misfire_grace_seconds"),
        ("cron", {"misfire_grace_seconds": True}, "misfire_grace_seconds"),
        ("cron", {"misfire_grace_seconds": "5"}, "misfire_grace_seconds"),
        ("interval", {}, "seconds"),
        ("interval", {"seconds": 0}, "seconds"),
        ("interval", {"seconds": -5}, "seconds"),
        ("interval", {"minutes": -1, "seconds": 120}, "minutes"),
        ("interval", {"seconds": 1.5}, "seconds"),
        ("interval", {"seconds": "10"}, "seconds"),
        ("interval", {"seconds": True}, "seconds"),
        ("interval", {"days": 10**9}, "days"),
        ("interval", {"seconds": 10, "run_immediately": "yes"}, "run_immediately"),
        ("interval", {"seconds": 10, "cron_expression": "* * * * *"}, "cron_expression"),
        ("date", {}, "run_date"),
        ("date", {"run_date": "not a date"}, "run_date"),
        ("date", {"run_date": 1700000000}, "run_date"),
        ("date", {"run_date": "2026-05-31T12:00:00+00:00"}, "run_date"),  # past
        ("date", {"run_date": "2026-06-01T12:00:00"}, "run_date"),  # exactly now
        ("date", {"run_date": "2026-12-01T10:00:00", "seconds": 1}, "seconds"),
        ("manual", {"misfire": "once"}, "misfire"),
        ("manual", {"overlap": "skip"}, "overlap"),
        ("manual", {"misfire_grace_seconds": 5}, "misfire_grace_seconds"),
        ("manual", {"seconds": 5}, "seconds"),
    ],
)
def test_parse_invalid_names_the_field(kind: str, config: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        specs.parse(kind, config, now=NOW)
    locs = [e.loc for e in info.value.errors]
    assert ("schedule_config", field) in locs, locs


def test_parse_reports_every_bad_field_at_once() -> None:
    with pytest.raises(InvalidInput) as info:
        specs.parse("cron", {"minute": "99", "hour": "99", "nope": 1}, now=NOW)
    assert {e.loc for e in info.value.errors} == {
        ("schedule_config", "minute"),
        ("schedule_config", "hour"),
        ("schedule_config", "nope"),
    }


def test_parse_rejects_non_object_and_unknown_kind() -> None:
    with pytest.raises(InvalidInput) as info:
        specs.parse("cron", ["* * * * *"])
    assert info.value.errors[0].loc == ("schedule_config",)
    with pytest.raises(InvalidInput) as info:
        specs.parse("weekly", {})
    assert info.value.errors[0].loc == ("scheduler_type",)


def test_date_in_the_past_message_says_so() -> None:
    with pytest.raises(InvalidInput, match="in the past"):
        specs.parse("date", {"run_date": "2020-01-01T00:00:00Z"})


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
    got = specs.next_n(spec, after, len(expected) or 3)
    assert got == expected
    assert all(t.tzinfo is not None and t.utcoffset() == timedelta(0) for t in got)


def test_next_after_is_strictly_after() -> None:
    spec = Spec(SchedulerType.CRON, cron="0 10 * * *")
    assert specs.next_after(spec, utc(2026, 1, 1, 10, 0)) == utc(2026, 1, 2, 10, 0)
    interval = Spec(SchedulerType.INTERVAL, interval_seconds=5)
    assert specs.next_after(interval, utc(2026, 1, 1)) == utc(2026, 1, 1, 0, 0, 5)


def test_next_after_accepts_other_offsets_and_refuses_naive() -> None:
    spec = Spec(SchedulerType.CRON, cron="0 * * * *")
    berlin = datetime(2026, 1, 1, 10, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    assert specs.next_after(spec, berlin) == utc(2026, 1, 1, 10, 0)
    with pytest.raises(ValueError, match="aware"):
        specs.next_after(spec, datetime(2026, 1, 1))


@pytest.mark.parametrize(
    "spec",
    [
        specs.parse("cron", {"cron_expression": "*/5 * * * *", "timezone": "Asia/Kolkata"}),
        specs.parse("cron", {"minute": "0", "misfire": "skip", "misfire_grace_seconds": 7}),
        specs.parse("interval", {"seconds": 42, "run_immediately": False, "overlap": "skip"}),
        specs.parse("date", {"run_date": "2099-01-01T00:00:00+05:00"}),
        specs.parse("manual", {}),
    ],
)
def test_labels_round_trip(spec: Spec) -> None:
    labels = specs.to_labels(spec)
    assert all(isinstance(v, str | int | bool) for v in labels.values())
    assert specs.from_labels({**labels, "config_id": 3, "trigger": "scheduled"}) == spec


def test_from_labels_keeps_a_past_date() -> None:
    spec = Spec(SchedulerType.DATE, run_at=utc(2020, 1, 1))
    assert specs.from_labels(specs.to_labels(spec)) == spec


def test_describe() -> None:
    assert specs.describe(specs.parse("interval", {"minutes": 1})) == "every 60s"
    assert specs.describe(specs.parse("cron", {"hour": "3"})) == "cron * 3 * * * (UTC)"


@pytest.mark.parametrize(
    ("kind", "config", "words"),
    [
        (
            "cron",
            {"cron_expression": "0 9 * * 1-5", "timezone": "Europe/Berlin"},
            "cron 0 9 * * 1-5 (Europe/Berlin)",
        ),
        ("cron", {"minute": "30", "hour": 2}, "cron 30 2 * * * (UTC)"),
        ("interval", {"minutes": 1, "seconds": 30}, "every 90s"),
        # a stored date that has passed still reads as its time (a completed schedule)
        ("date", {"run_date": "2020-01-01T00:00:00Z"}, "at 2020-01-01T00:00:00+00:00"),
        ("manual", {}, "manual"),
        ("interval", {"seconds": 0}, None),  # no longer a schedule: nothing to say
        ("hourly", {}, None),
    ],
)
def test_describe_config_words_a_stored_schedule(
    kind: str, config: dict[str, Any], words: str | None
) -> None:
    assert specs.describe_config(kind, config) == words


@pytest.mark.parametrize(
    ("kind", "config", "words"),
    [
        (
            "cron",
            {"cron_expression": "0 9 * * 1-5", "timezone": "Europe/Berlin"},
            "at 09:00 on weekdays (Europe/Berlin)",
        ),
        ("cron", {"cron_expression": "*/15 * * * *"}, "every 15 minutes (UTC)"),
        ("cron", {"cron_expression": "* * * * *"}, "every minute (UTC)"),
        ("cron", {"cron_expression": "30 * * * *"}, "every hour at minute 30 (UTC)"),
        ("cron", {"cron_expression": "0 */6 * * *"}, "every 6 hours at minute 0 (UTC)"),
        ("cron", {"cron_expression": "0 2 1 * *"}, "at 02:00 on day 1 of the month (UTC)"),
        ("cron", {"cron_expression": "0 0 * * 0,6"}, "at 00:00 on weekends (UTC)"),
        (
            "cron",
            {"cron_expression": "0 9,18 * * 1,3,5"},
            "at 09:00 and 18:00 on Mondays, Wednesdays and Fridays (UTC)",
        ),
        (
            "cron",
            {"cron_expression": "0 0 1 1 *"},
            "at 00:00 on day 1 of the month in January (UTC)",
        ),
        ("cron", {"cron_expression": "5-10 * * * *"}, "cron 5-10 * * * * (UTC)"),
        (
            "cron",
            {
                "cron_expression": "30 2 * * *",
                "timezone": "Europe/Berlin",
                "on_missing_time": "skip",
            },
            "at 02:30 (Europe/Berlin); a time a DST change skips does not fire",
        ),
        ("interval", {"seconds": 30}, "every 30 s"),
        ("interval", {"seconds": 90}, "every 90 s"),
        ("interval", {"minutes": 5}, "every 5 minutes"),
        ("interval", {"hours": 1}, "every hour"),
        ("interval", {"days": 2}, "every 2 days"),
        ("date", {"run_date": "2099-01-01T10:00:00Z"}, "once at 2099-01-01 10:00:00 UTC"),
        ("manual", {}, "manual"),
    ],
)
def test_describe_in_words(kind: str, config: dict[str, object], words: str) -> None:
    assert specs.describe_in_words(specs.parse(kind, config)) == words
