"""A history event as a config's history list holds it (``Keys.history(cid)``: JSON, newest
first), and the fixed-width instants the state stores (``format_instant``).

``actor`` names who caused the event (``taskplane.actors``); events written before it
existed read back with ``actor`` None."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from taskplane.instants import read_instant


def format_instant(moment: datetime) -> str:
    """Fixed-width ISO UTC (always microseconds): such strings compare as the times do."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True, slots=True)
class HistoryEvent:
    event: str
    timestamp: datetime
    note: str | None
    details: dict[str, Any] = field(default_factory=dict)
    actor: str | None = None

    def to_json(self) -> str:
        """The event as its list holds it: no ``note`` when none, no ``details`` when empty
        (``from_json`` reads both absent as such: a byte of every event is memory of every
        schedule; events written with them, as before, read the same)."""
        data: dict[str, Any] = {"event": self.event, "timestamp": format_instant(self.timestamp)}
        if self.note is not None:
            data["note"] = self.note
        if self.details:
            data["details"] = self.details
        data["actor"] = self.actor
        return json.dumps(data, separators=(",", ":"), default=str)

    @classmethod
    def from_json(cls, raw: str) -> HistoryEvent:
        data = json.loads(raw)
        details = data.get("details")
        return cls(
            event=str(data.get("event", "")),
            timestamp=read_instant(data.get("timestamp")) or datetime.fromtimestamp(0, UTC),
            note=data.get("note"),
            details=details if isinstance(details, dict) else {},
            actor=actor if isinstance(actor := data.get("actor"), str) else None,
        )


def read_events(raws: Iterable[str]) -> list[HistoryEvent]:
    """Events as a history list holds them, in order; an unreadable one is left out."""
    events: list[HistoryEvent] = []
    for raw in raws:
        try:
            events.append(HistoryEvent.from_json(raw))
        except ValueError:
            continue
    return events
