"""The explain verdict from facts: one sentence per situation (pure, no I/O)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from taskplane.enums import SchedulerType, ScheduleStatus
from taskplane.scheduling import explain, specs
from taskplane.scheduling.explain import Decision, Facts

NOW = datetime(2026, 12, 1, 10, 5, tzinfo=UTC)
NEXT = datetime(2026, 12, 1, 10, 30, tzinfo=UTC)

HEALTHY = Facts(
    now=NOW,
    kind=SchedulerType.CRON,
    status=ScheduleStatus.ACTIVE,
    note=None,
    status_at=datetime(2026, 12, 1, 9, 0, tzinfo=UTC),
    next_runs=[NEXT],
    decisions=[],
    last_event="started",
    last_error=None,
    queue="email",
    schedulers_alive=1,
    has_leader=True,
    workers_serving=1,
    worker_last_seen=NOW,
)
AT_10 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, "next fire 10:30 UTC"),
        (
            {"decisions": [Decision(AT_10, AT_10, "fired", None)]},
            "next fire 10:30 UTC (the last one, due 10:00 UTC, was sent)",
        ),
        (
            {"decisions": [Decision(AT_10, AT_10, "skipped", "excluded", "Christmas Day")]},
            "skipped 10:00 UTC on 01 Dec: Christmas Day (excluded); next fire 10:30 UTC",
        ),
        (
            {"decisions": [Decision(AT_10, AT_10, "skipped", "excluded")]},
            "skipped 10:00 UTC on 01 Dec: an excluded date; next fire 10:30 UTC",
        ),
        (
            {"decisions": [Decision(AT_10, AT_10, "skipped", "requested", "release")]},
            "skipped 10:00 UTC on 01 Dec: 'release' (skip requested); next fire 10:30 UTC",
        ),
        (
            {
                "status": ScheduleStatus.PAUSED,
                "status_at": datetime(2026, 12, 1, 10, 2, tzinfo=UTC),
                "note": "database maintenance until 14:00",
            },
            "paused since 10:02 UTC: 'database maintenance until 14:00'; nothing fires until "
            "it is resumed",
        ),
        (
            {"status": ScheduleStatus.INACTIVE, "last_event": "stopped"},
            "stopped since 09:00 UTC; nothing fires until it is started",
        ),
        (
            {
                "status": ScheduleStatus.INACTIVE,
                "kind": SchedulerType.DATE,
                "last_event": "completed",
                "decisions": [Decision(AT_10 + timedelta(seconds=1), AT_10, "fired", None)],
            },
            "done: its one fire (due 10:00 UTC) was sent at 10:00 UTC",
        ),
        (
            {"status": ScheduleStatus.ERROR, "last_error": "task type 'gone' is not registered"},
            "in error since 09:00 UTC: task type 'gone' is not registered; nothing fires until "
            "it is started again",
        ),
        (
            {"kind": SchedulerType.MANUAL, "status": ScheduleStatus.INACTIVE},
            "manual: it runs only when asked (run now or a batch run), never on a schedule",
        ),
        (
            {"schedulers_alive": 0, "has_leader": False},
            "no scheduler is running: nothing is sent; the fire due 10:30 UTC goes out when one "
            "starts",
        ),
        (
            {"has_leader": False},
            "no scheduler leads right now (a new leader is being chosen): fires wait for it",
        ),
        (
            {"workers_serving": 0, "worker_last_seen": NOW - timedelta(minutes=4)},
            "no worker serving queue 'email' has been seen for 4 min: fires are queued, not run",
        ),
        (
            {"workers_serving": 0, "worker_last_seen": None},
            "no worker serving queue 'email' is running: fires are queued, not run",
        ),
        (
            {"decisions": [Decision(AT_10, AT_10, "skipped", "overlap")]},
            "skipped the 10:00 UTC fire: the previous run was still running (overlap: skip); "
            "next fire 10:30 UTC",
        ),
        (
            {"decisions": [Decision(AT_10, AT_10, "skipped", "misfire")]},
            "skipped the fire due 10:00 UTC: no scheduler sent it in time (misfire policy); "
            "next fire 10:30 UTC",
        ),
        (
            {"next_runs": [datetime(2026, 12, 24, 9, 0, tzinfo=UTC)]},
            "next fire 2026-12-24 09:00 UTC",
        ),
    ],
)
def test_verdict(changes: dict[str, object], expected: str) -> None:
    assert explain.verdict(replace(HEALTHY, **changes)) == expected  # type: ignore[arg-type]


def test_a_pause_holds_back_the_fires_it_covers_as_decisions() -> None:
    spec = specs.parse("interval", {"minutes": 10})
    paused_at = datetime(2026, 12, 1, 9, 58, tzinfo=UTC)
    held = explain.held_back(spec, ScheduleStatus.PAUSED, paused_at, NOW + timedelta(minutes=20))
    assert [(d.due_at, d.decision, d.reason) for d in held] == [
        (datetime(2026, 12, 1, 10, 18, tzinfo=UTC), "skipped", "paused"),
        (datetime(2026, 12, 1, 10, 8, tzinfo=UTC), "skipped", "paused"),
    ]
    assert explain.held_back(spec, ScheduleStatus.ACTIVE, paused_at, NOW) == []


def test_a_paused_interval_keeps_its_cadence_from_its_last_due_time() -> None:
    spec = specs.parse("interval", {"minutes": 10})
    last_due = datetime(2026, 12, 1, 9, 55, tzinfo=UTC)
    paused_at = datetime(2026, 12, 1, 9, 58, tzinfo=UTC)
    held = explain.held_back(
        spec, ScheduleStatus.INACTIVE, paused_at, NOW + timedelta(minutes=20), last_due
    )
    assert [(d.due_at, d.reason) for d in held] == [
        (datetime(2026, 12, 1, 10, 25, tzinfo=UTC), "stopped"),
        (datetime(2026, 12, 1, 10, 15, tzinfo=UTC), "stopped"),
        (datetime(2026, 12, 1, 10, 5, tzinfo=UTC), "stopped"),
    ]


def test_an_excluded_or_requested_skip_is_read_from_the_history_with_its_detail() -> None:
    from taskplane.state.history import HistoryEvent

    events = [
        HistoryEvent(
            "skipped", AT_10, None, {"reason": "excluded", "due_at": AT_10.isoformat(),
                                     "holiday": "Christmas Day"}
        ),
        HistoryEvent(
            "skipped", AT_10, None, {"reason": "requested", "due_at": AT_10.isoformat(),
                                     "note": "release"}
        ),
    ]  # fmt: skip
    assert [(d.reason, d.detail) for d in explain.decisions_of(events)] == [
        ("excluded", "Christmas Day"),
        ("requested", "release"),
    ]


def test_a_pause_holds_back_only_the_fires_an_exclusion_left_in() -> None:
    spec = specs.parse("interval", {"hours": 1, "exclude": {"dates": [AT_10.date().isoformat()]}})
    since = datetime(2026, 11, 30, 20, 0, tzinfo=UTC)
    held = explain.held_back(spec, ScheduleStatus.PAUSED, since, NOW, since)
    # 21:00 to 23:00 on 30 November; every hour of 1 December is excluded
    assert [d.due_at.hour for d in held if d.due_at is not None] == [23, 22, 21]
    assert (
        len(explain.held_back(replace(spec, calendar=None), ScheduleStatus.PAUSED, since, NOW))
        == 10
    )
