"""Reading what reached the broker. Send time is the stream entry id: Redis stamps each XADD
with its own clock in milliseconds, so lag = id time - due time needs no consumer racing the
scheduler for the CPU; the stream is read after the measured window."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis


@dataclass(frozen=True, slots=True)
class Sent:
    sent_ms: int
    task_id: str
    labels: dict[str, Any]
    kwargs: dict[str, Any]


def _text(value: bytes | str | None) -> str:
    if value is None:
        raise ValueError("a stream entry without an id")
    return value.decode() if isinstance(value, bytes) else value


async def read_all(redis: Redis, stream: str, chunk: int = 20_000) -> AsyncIterator[Sent]:
    """Every entry of the stream, oldest first (redis client may decode or not)."""
    start = "-"
    while True:
        entries = await redis.xrange(stream, min=start, max="+", count=chunk)
        if not entries:
            return
        for entry_id, fields in entries:
            body = (fields or {}).get(b"data", (fields or {}).get("data"))
            if body is None:
                raise ValueError(f"stream entry {_text(entry_id)} has no data field")
            message = json.loads(body)
            yield Sent(
                int(_text(entry_id).split("-", 1)[0]),
                message["task_id"],
                message.get("labels", {}),
                message.get("kwargs", {}),
            )
        start = "(" + _text(entries[-1][0])
        if len(entries) < chunk:
            return


async def first_entry_ms(redis: Redis, stream: str) -> int | None:
    entries = await redis.xrange(stream, min="-", max="+", count=1)
    if not entries:
        return None
    return int(_text(entries[0][0]).split("-", 1)[0])
