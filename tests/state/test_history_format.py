"""The stored form of a history event (``state.history``): compact, exact, and the earlier
long form still read."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

from taskplane.epoch import from_us, to_us
from taskplane.state.history import HistoryEvent, read_events

AT = datetime(2026, 12, 7, 9, 22, 35, 817511, tzinfo=UTC)


def test_an_event_is_stored_with_one_letter_keys_and_epoch_microseconds() -> None:
    event = HistoryEvent("started", AT, None, {"next_run_at": "2026-12-07T09:22:45+00:00"}, "cli")
    text = event.to_json()
    assert text == (
        '{"e":"started","t":1796635355817511,'
        '"d":{"next_run_at":"2026-12-07T09:22:45+00:00"},"a":"cli"}'
    )
    assert HistoryEvent.from_json(text) == event
    plain = HistoryEvent("created", AT, None, {}, "cli")
    assert plain.to_json() == '{"e":"created","t":1796635355817511,"a":"cli"}'
    noted = HistoryEvent("paused", AT, "why", {}, None)
    assert json.loads(noted.to_json()) == {
        "e": "paused",
        "t": 1796635355817511,
        "n": "why",
        "a": None,
    }
    assert HistoryEvent.from_json(noted.to_json()) == noted


def test_the_instant_comes_back_exactly() -> None:
    for moment in (
        AT,
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(2099, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2026, 3, 29, 2, 30, 0, 1, tzinfo=timezone(timedelta(hours=2))),
    ):
        assert from_us(to_us(moment)) == moment
        assert HistoryEvent.from_json(HistoryEvent("x", moment, None).to_json()).timestamp == moment


def test_the_earlier_long_form_reads_the_same() -> None:
    long_form = [
        '{"event":"started","timestamp":"2026-12-07T09:22:35.817511+00:00",'
        '"details":{"next_run_at":"2026-12-07T09:22:45+00:00"},"actor":"cli"}',
        '{"event": "created", "timestamp": "2026-12-07T09:22:35.817511+00:00", "note": null,'
        ' "details": {}}',
    ]
    started, created = read_events(long_form)
    assert started == HistoryEvent(
        "started", AT, None, {"next_run_at": "2026-12-07T09:22:45+00:00"}, "cli"
    )
    assert created == HistoryEvent("created", AT, None, {}, None)
    assert read_events(["not json", long_form[0]]) == [started]


def test_the_compact_form_is_smaller_by_a_quarter_for_a_fired_event() -> None:
    details = {
        "due_at": "2026-12-07T09:23:00.123000+00:00",
        "trigger": "scheduled",
        "task_id": "123456-1796635380123",
    }
    compact = HistoryEvent("fired", AT, None, details, "scheduler").to_json()
    long_form = json.dumps(
        {"event": "fired", "timestamp": AT.isoformat(), "details": details, "actor": "scheduler"},
        separators=(",", ":"),
    )
    assert len(compact) <= 0.8 * len(long_form)
