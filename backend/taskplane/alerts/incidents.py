"""What an alert is: a config's alert settings, an incident, and the webhook body of an
incident's opening or resolution (one encoding each, shared by the store, the detector, the
webhook sender and the API)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from taskplane.epoch import from_ms
from taskplane.instants import read_instant

LATE_AFTER_RANGE = (30, 86_400)
FAILURES_IN_ROW_RANGE = (1, 100)


class Kind(StrEnum):
    LATE = "late"
    FAILING = "failing"


class IncidentState(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class AlertSettings:
    """A config's ``alerts`` field (both None: no alert), and the name its alerts show."""

    name: str
    late_after_seconds: int | None = None
    failures_in_row: int | None = None

    @property
    def is_set(self) -> bool:
        return self.late_after_seconds is not None or self.failures_in_row is not None

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> AlertSettings:
        data = json.loads(raw)
        return cls(
            name=str(data.get("name", "")),
            late_after_seconds=data.get("late_after_seconds"),
            failures_in_row=data.get("failures_in_row"),
        )

    @classmethod
    def of(cls, name: str, alerts: dict[str, Any] | None) -> AlertSettings:
        """From a config row's stored ``alerts`` (None: no alert)."""
        alerts = alerts or {}
        return cls(name, alerts.get("late_after_seconds"), alerts.get("failures_in_row"))


@dataclass(frozen=True, slots=True)
class Incident:
    """One incident. ``due_at``: the due time a ``late`` incident is about (None for
    ``failing``); ``successes``: the config's success count when a ``failing`` one opened
    (the next success resolves it)."""

    id: int
    config_id: int
    name: str
    kind: Kind
    state: IncidentState
    opened_at: datetime
    resolved_at: datetime | None
    detail: str
    due_at: datetime | None = None
    successes: int = 0

    @property
    def field(self) -> str:
        """Its field in the open-incidents hash: one open incident per config and kind."""
        return open_field(self.config_id, self.kind)

    def resolved(self, at: datetime, detail: str) -> Incident:
        return replace(self, state=IncidentState.RESOLVED, resolved_at=at, detail=detail)

    def to_json(self) -> str:
        data = asdict(self)
        for name in ("opened_at", "resolved_at", "due_at"):
            data[name] = _iso(data[name])
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> Incident:
        data = json.loads(raw)
        return cls(
            id=int(data["id"]),
            config_id=int(data["config_id"]),
            name=str(data["name"]),
            kind=Kind(data["kind"]),
            state=IncidentState(data["state"]),
            opened_at=read_instant(data["opened_at"]) or datetime.fromtimestamp(0, UTC),
            resolved_at=read_instant(data.get("resolved_at")),
            detail=str(data.get("detail", "")),
            due_at=read_instant(data.get("due_at")),
            successes=int(data.get("successes", 0)),
        )

    def event_details(self) -> dict[str, Any]:
        """The ``alert`` history event's details (API.md: kind, state, due_at)."""
        return {"kind": str(self.kind), "state": str(self.state), "due_at": _iso(self.due_at)}

    def payload(self, now: datetime) -> dict[str, Any]:
        """The webhook body (API.md): ``text`` is one plain sentence for a chat channel."""
        return {
            "kind": str(self.kind),
            "state": str(self.state),
            "config_id": self.config_id,
            "name": self.name,
            "opened_at": _iso(self.opened_at),
            "resolved_at": _iso(self.resolved_at),
            "detail": self.detail,
            "text": self.text(now),
        }

    def text(self, now: datetime) -> str:
        who = f'schedule "{self.name}" (id {self.config_id})'
        if self.state is IncidentState.RESOLVED:
            return f"Resolved: {who} is no longer {self.kind}: {self.detail}."
        if self.kind is Kind.LATE and self.due_at is not None:
            return (
                f"Late: {who} has not started its {self.due_at:%Y-%m-%d %H:%M} UTC run, "
                f"due {ago(now - self.due_at)}."
            )
        return f"Failing: {who}: {self.detail}."


def open_field(config_id: int, kind: Kind) -> str:
    return f"{config_id}:{kind}"


def ago(delta: Any) -> str:
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    return f"{seconds // 3600} h ago"


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


def instant(epoch_ms: float | None) -> datetime | None:
    return None if epoch_ms is None else from_ms(epoch_ms)
