"""Schedule specs: parameter tables, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from taskplane.enums import SchedulerType
from taskplane.errors import InvalidInput
from taskplane.scheduling import spec_labels, specs
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
    labels = spec_labels.to_labels(spec)
    assert all(isinstance(v, str | int | bool) for v in labels.values())
    assert spec_labels.from_labels({**labels, "config_id": 3, "trigger": "scheduled"}) == spec


def test_from_labels_keeps_a_past_date() -> None:
    spec = Spec(SchedulerType.DATE, run_at=utc(2020, 1, 1))
    assert spec_labels.from_labels(spec_labels.to_labels(spec)) == spec


@pytest.mark.parametrize(
    ("kind", "config", "expected"),
    [
        # read back: a date that has passed is still that date (a completed schedule)
        (
            "date",
            {"run_date": "2020-01-01T00:00:00Z"},
            Spec(SchedulerType.DATE, run_at=utc(2020, 1, 1)),
        ),
        ("interval", {"seconds": 5}, Spec(SchedulerType.INTERVAL, interval_seconds=5)),
        ("interval", {"seconds": 0}, None),  # no longer a schedule
        ("cron", {"minute": "*/5", "extra": 1}, None),
        ("hourly", {}, None),
    ],
)
def test_stored_reads_a_config_back_or_says_none(
    kind: str, config: dict[str, Any], expected: Spec | None
) -> None:
    assert specs.stored(kind, config) == expected
