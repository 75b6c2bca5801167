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


async def read_all(redis: Redis, stream: str, chunk: int = 20_000) -> AsyncIterator[Sent]:
    """Every entry of the stream, oldest first (redis client may decode or not)."""
    start = "-"
    while True:
        entries = await redis.xrange(stream, min=start, max="+", count=chunk)
        if not entries:
            return
        for entry_id, fields in entries:
            eid = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
            body = fields.get(b"data", fields.get("data"))
            message = json.loads(body)
            yield Sent(
                int(eid.split("-", 1)[0]),
                message["task_id"],
                message.get("labels", {}),
                message.get("kwargs", {}),
            )
        last = entries[-1][0]
        last = last.decode() if isinstance(last, bytes) else last
        start = "(" + last
        if len(entries) < chunk:
            return


async def first_entry_ms(redis: Redis, stream: str) -> int | None:
    entries = await redis.xrange(stream, min="-", max="+", count=1)
    if not entries:
        return None
    eid = entries[0][0]
    eid = eid.decode() if isinstance(eid, bytes) else eid
    return int(eid.split("-", 1)[0])
