"""The incident's encodings (pure): its JSON round trip, its event details and the webhook
body's one-sentence text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from taskplane.alerts.incidents import AlertSettings, Incident, IncidentState, Kind

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def late(**over: object) -> Incident:
    values: dict[str, object] = {
        "id": 3,
        "config_id": 7,
        "name": "nightly-report",
        "kind": Kind.LATE,
        "state": IncidentState.OPEN,
        "opened_at": T0 + timedelta(seconds=45),
        "resolved_at": None,
        "detail": "no run has started for it",
        "due_at": T0,
    }
    return Incident(**{**values, **over})  # type: ignore[arg-type]


def test_an_incident_round_trips_through_its_json() -> None:
    incident = late()
    assert Incident.from_json(incident.to_json()) == incident
    resolved = incident.resolved(T0 + timedelta(minutes=5), "a later run started")
    assert Incident.from_json(resolved.to_json()) == resolved
    assert resolved.state is IncidentState.RESOLVED


def test_the_late_text_names_the_schedule_its_due_time_and_how_long_ago() -> None:
    text = late().payload(T0 + timedelta(minutes=2))["text"]
    assert text == (
        'Late: schedule "nightly-report" (id 7) has not started its 2026-12-07 09:00 UTC '
        "run, due 2 min ago."
    )
    assert "due 3 min ago" in late().text(T0 + timedelta(minutes=3, seconds=10))


def test_the_event_details_are_kind_state_and_due_at() -> None:
    assert late().event_details() == {"kind": "late", "state": "open", "due_at": T0.isoformat()}
    failing = late(kind=Kind.FAILING, due_at=None)
    assert failing.event_details() == {"kind": "failing", "state": "open", "due_at": None}


def test_alert_settings_are_set_when_either_alert_is() -> None:
    assert not AlertSettings.of("x", None).is_set
    assert not AlertSettings.of("x", {"late_after_seconds": None}).is_set
    assert AlertSettings.of("x", {"failures_in_row": 2}).is_set
    settings = AlertSettings("x", 60, None)
    assert AlertSettings.from_json(settings.to_json()) == settings
