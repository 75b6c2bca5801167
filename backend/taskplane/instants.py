"""Instants read from text: ISO 8601 as Redis, labels and configs hold it, always aware UTC.

``parse_instant`` is the strict reading (a config's ``run_date``: ValueError names the
problem); ``read_instant`` the lenient one for what taskplane itself stored (state hashes,
history events, heartbeats, message labels): anything unreadable is None, never an error.
A time without an offset is UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def parse_instant(value: str) -> datetime:
    """An ISO 8601 time as aware UTC; a naive time is UTC. ValueError if unreadable."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def read_instant(value: Any) -> datetime | None:
    """``parse_instant`` of a stored value; None for anything that is not such a time."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_instant(value)
    except (ValueError, OverflowError):
        return None
