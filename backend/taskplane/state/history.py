"""A history event as a config's history list holds it (``Keys.history(cid)``: JSON, newest
first), and the fixed-width instants the state stores (``format_instant``).

The stored form is compact (``to_json``): one-letter keys ``e`` (event), ``t`` (timestamp,
integer microseconds since the epoch: the instant exactly), ``n`` (note, absent when none),
``d`` (details, absent when empty; their values as the API shows them), ``a`` (actor). It is
written here and, for the engine's ``fired`` / ``skipped`` events, by the fire script
(``scheduling/scripts.py``: byte for byte this format, tests compare them). An event is
every schedule's memory many times over (``history_max`` of them each): the long keys and
the ISO timestamp of earlier versions were a quarter of a ``fired`` event. Events in that
earlier form (``event``, ``timestamp`` ISO, ``note``, ``details``, ``actor``) read the same.

``actor`` names who caused the event (``taskplane.actors``); events written before it
existed read back with ``actor`` None."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from taskplane.epoch import from_us, to_us
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
        """The event as its list holds it (the module doc): no note when none, no details
        when empty (``from_json`` reads both absent as such)."""
        data: dict[str, Any] = {"e": self.event, "t": to_us(self.timestamp)}
        if self.note is not None:
            data["n"] = self.note
        if self.details:
            data["d"] = self.details
        data["a"] = self.actor
        return json.dumps(data, separators=(",", ":"), default=str)

    @classmethod
    def from_json(cls, raw: str) -> HistoryEvent:
        """An event as stored: the compact form, or an earlier version's long one."""
        data = json.loads(raw)
        if "e" in data:
            t = data.get("t")
            at = from_us(t) if isinstance(t, int) else None
            event, note, details, actor = data["e"], data.get("n"), data.get("d"), data.get("a")
        else:
            at = read_instant(data.get("timestamp"))
            event, note = data.get("event", ""), data.get("note")
            details, actor = data.get("details"), data.get("actor")
        return cls(
            event=str(event),
            timestamp=at or datetime.fromtimestamp(0, UTC),
            note=note if isinstance(note, str) else None,
            details=details if isinstance(details, dict) else {},
            actor=actor if isinstance(actor, str) else None,
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
