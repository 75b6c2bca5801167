"""Exclusions and jitter (``scheduling/calendar.py``) and the one function that applies every
rule to fire times (``fire_times.occurrences``): pure, parameter tables, no I/O."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from taskplane.enums import SchedulerType
from taskplane.epoch import to_ms
from taskplane.errors import InvalidInput
from taskplane.scheduling import calendar, fire_times, spec_labels, specs, words
from taskplane.scheduling.calendar import Calendar

BERLIN_9 = {"cron_expression": "0 9 * * *", "timezone": "Europe/Berlin"}
DE_BY = {"holidays": {"country": "DE", "subdivision": "BY"}}


def locs(kind: str, config: dict[str, Any]) -> list[tuple[str | int, ...]]:
    with pytest.raises(InvalidInput) as caught:
        specs.parse(kind, config)
    return [e.loc for e in caught.value.errors]


@pytest.mark.parametrize(
    ("kind", "config", "loc"),
    [
        ("cron", {**BERLIN_9, "exclude": {"holidays": {"country": "XX"}}},
         ("schedule_config", "exclude", "holidays", "country")),
        ("cron", {**BERLIN_9, "exclude": {"holidays": {"country": "DE", "subdivision": "ZZ"}}},
         ("schedule_config", "exclude", "holidays", "subdivision")),
        ("cron", {**BERLIN_9, "exclude": {"holidays": {"country": 49}}},
         ("schedule_config", "exclude", "holidays", "country")),
        ("cron", {**BERLIN_9, "exclude": {"dates": ["2026-12-24", "24.12.2026"]}},
         ("schedule_config", "exclude", "dates", 1)),
        ("cron", {**BERLIN_9, "exclude": {"dates": ["2026-02-30"]}},
         ("schedule_config", "exclude", "dates", 0)),
        ("cron", {**BERLIN_9, "exclude": {"dates": ["2026-01-01"] * 367}},
         ("schedule_config", "exclude", "dates")),
        ("cron", {**BERLIN_9, "exclude": {"weekends": True}},
         ("schedule_config", "exclude", "weekends")),
        ("cron", {**BERLIN_9, "exclude": ["2026-12-24"]}, ("schedule_config", "exclude")),
        ("cron", {**BERLIN_9, "jitter_seconds": 3601}, ("schedule_config", "jitter_seconds")),
        ("cron", {**BERLIN_9, "jitter_seconds": -1}, ("schedule_config", "jitter_seconds")),
        ("cron", {**BERLIN_9, "jitter_seconds": 1.5}, ("schedule_config", "jitter_seconds")),
        ("interval", {"seconds": 60, "jitter_seconds": 60}, ("schedule_config", "jitter_seconds")),
        ("date", {"run_date": "2099-01-01T00:00:00Z", "jitter_seconds": 5},
         ("schedule_config", "jitter_seconds")),
        ("date", {"run_date": "2099-01-01T00:00:00Z", "exclude": DE_BY},
         ("schedule_config", "exclude")),
    ],
)  # fmt: skip
def test_a_bad_rule_is_a_422_naming_its_field(
    kind: str, config: dict[str, Any], loc: tuple[str | int, ...]
) -> None:
    assert locs(kind, config) == [loc]


def test_rules_are_kept_in_the_spec_and_its_labels() -> None:
    spec = specs.parse(
        "cron", {**BERLIN_9, "exclude": {**DE_BY, "dates": ["2026-12-31"]}, "jitter_seconds": 30}
    )
    assert spec.calendar == Calendar(frozenset({date(2026, 12, 31)}), "DE", "BY", 30)
    assert spec_labels.from_labels(spec_labels.to_labels(spec)) == spec
    interval = specs.parse("interval", {"minutes": 5, "jitter_seconds": 299})
    assert interval.calendar == Calendar(jitter_seconds=299)


def test_a_schedule_without_rules_has_no_calendar_and_no_new_labels() -> None:
    spec = specs.parse("cron", {**BERLIN_9, "jitter_seconds": 0, "exclude": {"dates": []}})
    assert spec.calendar is None
    assert not any(
        "holiday" in k or "jitter" in k or "exclude" in k for k in spec_labels.to_labels(spec)
    )


def test_words_say_the_rules() -> None:
    spec = specs.parse("cron", {**BERLIN_9, "exclude": DE_BY, "jitter_seconds": 30})
    assert words.describe_in_words(spec) == (
        "at 09:00 (Europe/Berlin), except public holidays in DE-BY; "
        "sent up to 30 s after each due time (jitter)"
    )
    assert (
        words.describe(spec) == "cron 0 9 * * * (Europe/Berlin) except holidays DE-BY; jitter 30s"
    )
    dates = specs.parse(
        "interval", {"hours": 1, "exclude": {"dates": ["2026-12-24", "2026-12-31"]}}
    )
    assert words.describe_in_words(dates) == "every hour, except 2 dates"


def test_holidays_and_dates_are_excluded_on_the_local_date_with_the_holiday_name() -> None:
    spec = specs.parse("cron", {**BERLIN_9, "exclude": {**DE_BY, "dates": ["2026-12-23"]}})
    found = list(
        itertools.islice(
            fire_times.occurrences(spec, after=datetime(2026, 12, 22, 12, tzinfo=UTC)), 5
        )
    )
    assert [(o.due_at.day, o.skipped, o.detail) for o in found] == [
        (23, "excluded", None),
        (24, None, None),
        (25, "excluded", "Christmas Day"),
        (26, "excluded", "Second Day of Christmas"),
        (27, None, None),
    ]
    assert all(o.send_at == o.due_at for o in found)  # no jitter


def test_the_local_date_decides_not_the_utc_one() -> None:
    # 00:30 in Berlin on 25 December is 23:30 UTC on the 24th: excluded (Christmas Day)
    spec = specs.parse(
        "cron",
        {"cron_expression": "30 0 * * *", "timezone": "Europe/Berlin", "exclude": DE_BY},
    )
    [christmas] = [
        o for o in itertools.islice(
            fire_times.occurrences(spec, after=datetime(2026, 12, 24, tzinfo=UTC)), 3
        )
        if o.due_at == datetime(2026, 12, 24, 23, 30, tzinfo=UTC)
    ]  # fmt: skip
    assert (christmas.skipped, christmas.detail) == ("excluded", "Christmas Day")
    # an interval reads the UTC date: the same instant fires
    every = specs.parse("interval", {"minutes": 30, "exclude": DE_BY})
    first = datetime(2026, 12, 24, 23, 30, tzinfo=UTC)
    [o] = itertools.islice(fire_times.occurrences(every, first=first), 1)
    assert o.fires


def test_jitter_is_deterministic_below_the_bound_and_differs_by_config() -> None:
    due = to_ms(datetime(2026, 3, 1, tzinfo=UTC))
    offsets = [calendar.jitter_ms(cid, due, 60) for cid in range(1, 200)]
    assert offsets == [calendar.jitter_ms(cid, due, 60) for cid in range(1, 200)]
    assert all(0 <= o < 60_000 for o in offsets)
    assert len(set(offsets)) > 150  # spread, not one value
    assert calendar.jitter_ms(7, due, 0) == 0
    spec = specs.parse("interval", {"minutes": 1, "jitter_seconds": 30})
    first = datetime(2026, 3, 1, tzinfo=UTC)
    found = list(itertools.islice(fire_times.occurrences(spec, first=first, config_id=7), 3))
    assert [o.due_at for o in found] == [first + timedelta(minutes=k) for k in range(3)]
    for o in found:
        offset = calendar.jitter_ms(7, to_ms(o.due_at), 30)
        assert o.send_at == o.due_at + timedelta(milliseconds=offset)
    assert fire_times.due_of(spec, 7, to_ms(found[1].send_at), to_ms(found[1].due_at)) == to_ms(
        found[1].due_at
    )
    # a score that is no recorded due's send time is the due itself (a fresh registration)
    assert fire_times.due_of(spec, 7, to_ms(first), to_ms(first) - 60_000) == to_ms(first)


def test_requested_skips_are_left_out_of_what_fires() -> None:
    spec = specs.parse("interval", {"hours": 1})
    first = datetime(2026, 5, 1, tzinfo=UTC)
    skips = {to_ms(first + timedelta(hours=1)): "release", to_ms(first + timedelta(hours=2)): ""}
    found = list(itertools.islice(fire_times.occurrences(spec, first=first, skips=skips), 4))
    assert [(o.skipped, o.detail) for o in found] == [
        (None, None),
        ("requested", "release"),
        ("requested", None),
        (None, None),
    ]
    runs = fire_times.upcoming(spec, 3, first=first, skips=skips)
    assert [o.due_at.hour for o in runs] == [0, 3, 4]


def test_a_preview_leaves_excluded_dates_out() -> None:
    spec = specs.parse("cron", {**BERLIN_9, "exclude": {"dates": ["2026-12-25"]}})
    runs = fire_times.first_runs(spec, datetime(2026, 12, 24, 12, tzinfo=UTC), 2)
    assert [r.day for r in runs] == [26, 27]
    assert specs.Spec(kind=SchedulerType.MANUAL).calendar is None
