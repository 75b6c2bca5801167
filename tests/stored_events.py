"""A stored history event as a dict with the long keys (``event``, ``timestamp`` ISO,
``note`` when given, ``details`` when any, ``actor``): what tests that read a history list
straight from Redis look at, whichever form (``state.history``) it is stored in."""

from __future__ import annotations

from typing import Any

from taskplane.state.history import HistoryEvent, format_instant


def stored_event(raw: str | bytes) -> dict[str, Any]:
    event = HistoryEvent.from_json(raw.decode() if isinstance(raw, bytes) else raw)
    out: dict[str, Any] = {"event": event.event, "timestamp": format_instant(event.timestamp)}
    if event.note is not None:
        out["note"] = event.note
    if event.details:
        out["details"] = event.details
    out["actor"] = event.actor
    return out
