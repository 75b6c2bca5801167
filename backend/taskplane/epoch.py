"""Instants as epoch milliseconds, the unit of every time score in Redis (the due index,
retry and claim scores): ``to_ms`` and its inverse ``from_ms``, always timezone-aware UTC;
and as epoch microseconds, exactly (``to_us`` / ``from_us``: a history event's time)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


def to_ms(moment: datetime) -> int:
    """Whole milliseconds since the epoch (rounded, so ``to_ms(from_ms(n)) == n``)."""
    return round(moment.timestamp() * 1000)


def from_ms(epoch_ms: float) -> datetime:
    """The aware UTC instant ``epoch_ms`` milliseconds after the epoch."""
    return datetime.fromtimestamp(epoch_ms / 1000, UTC)


def to_us(moment: datetime) -> int:
    """Microseconds since the epoch, exactly (integer arithmetic: ``from_us`` gives the same
    instant back); a naive ``moment`` is local time, as ``astimezone`` reads it."""
    return (moment.astimezone(UTC) - _EPOCH) // _US


def from_us(epoch_us: int) -> datetime:
    """The aware UTC instant ``epoch_us`` microseconds after the epoch."""
    return _EPOCH + timedelta(microseconds=epoch_us)
