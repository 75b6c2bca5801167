"""The closed sets: a stored status this version cannot read is ``error``."""

from __future__ import annotations

import pytest

from taskplane.enums import ScheduleStatus


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        ("active", ScheduleStatus.ACTIVE),
        ("paused", ScheduleStatus.PAUSED),
        ("inactive", ScheduleStatus.INACTIVE),
        ("error", ScheduleStatus.ERROR),
        ("archived", ScheduleStatus.ERROR),  # written by a newer version
        ("ACTIVE", ScheduleStatus.ERROR),
        ("", ScheduleStatus.ERROR),
    ],
)
def test_a_stored_status_reads_as_itself_or_as_error(stored: str, expected: ScheduleStatus) -> None:
    assert ScheduleStatus.stored(stored) is expected
