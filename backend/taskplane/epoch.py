"""Instants as epoch milliseconds, the unit of every time score in Redis (the due index,
retry and claim scores): ``to_ms`` and its inverse ``from_ms``, always timezone-aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime


def to_ms(moment: datetime) -> int:
    """Whole milliseconds since the epoch (rounded, so ``to_ms(from_ms(n)) == n``)."""
    return round(moment.timestamp() * 1000)


def from_ms(epoch_ms: float) -> datetime:
    """The aware UTC instant ``epoch_ms`` milliseconds after the epoch."""
    return datetime.fromtimestamp(epoch_ms / 1000, UTC)
