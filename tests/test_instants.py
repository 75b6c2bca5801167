"""ISO 8601 instants read from text: the strict reading and the lenient one, one home."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from taskplane.instants import parse_instant, read_instant

NOON = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-01T12:00:00+00:00", NOON),
        ("2026-12-01T12:00:00Z", NOON),
        ("2026-12-01T12:00:00z", NOON),
        ("  2026-12-01T12:00:00Z ", NOON),
        ("2026-12-01T12:00:00", NOON),  # naive is UTC
        ("2026-12-01T13:00:00+01:00", NOON),
        ("2026-12-01T07:00:00-05:00", NOON),
        ("2026-12-01T12:00:00.250000+00:00", NOON + timedelta(milliseconds=250)),
    ],
)
def test_parse_instant_reads_iso_as_aware_utc(text: str, expected: datetime) -> None:
    parsed = parse_instant(text)
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize("text", ["", "tomorrow", "2026-13-01T00:00:00", "12:00"])
def test_parse_instant_refuses_what_is_no_time(text: str) -> None:
    with pytest.raises(ValueError):
        parse_instant(text)


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "tomorrow",
        1_764_590_400,
        b"2026-12-01T12:00:00Z",
        ["x"],
        "9999-12-31T23:59:59-05:00",
    ],
)
def test_read_instant_is_none_for_anything_unreadable(value: Any) -> None:
    assert read_instant(value) is None


def test_read_instant_reads_what_parse_instant_reads() -> None:
    assert read_instant("2026-12-01T13:00:00+01:00") == NOON
    assert read_instant("2026-12-01T12:00:00") == NOON


@given(
    st.datetimes(
        min_value=datetime(1970, 1, 2),
        max_value=datetime(9998, 1, 1),
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), None]),
    )
)
def test_an_instant_written_as_iso_reads_back_the_same(moment: datetime) -> None:
    expected = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    assert read_instant(moment.isoformat()) == expected
    assert parse_instant(moment.isoformat()).tzinfo is UTC
