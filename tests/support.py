"""Helpers shared by the tests: polling with a deadline, never sleep-and-hope; streams read
back typed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import cast

from redis.asyncio import Redis

Entry = tuple[str, dict[str, str]]


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {within}s")
        await asyncio.sleep(0.02)


async def stream_entries(redis: Redis, stream: str) -> list[Entry]:
    """Every entry of a stream, oldest first: (entry id, fields) as a decoding client reads
    them (XRANGE)."""
    return cast(list[Entry], await redis.xrange(stream))
