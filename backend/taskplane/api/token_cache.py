"""Stored tokens' lookups, remembered per api process, and the token generation that voids
them on every replica at once.

A stored token's lookup (its row by hash) is remembered for at most ``MAX_AGE_SECONDS``, keyed
by the token's SHA-256 digest (never the token), and only under the **token generation** it
was looked up under: a random value in Redis (``Keys.token_generation``) that every revocation
replaces, after its commit (``revoked``). Each request reads the generation (one GET) and uses
a remembered lookup only if it was made under that same value, so a token revoked through the
API or ``taskplane token revoke`` is refused by every replica from the next request on
(API.md). The generation is read BEFORE a lookup, so a revocation that commits while a lookup
runs leaves that lookup under the old generation.

Fail-safe: when Redis cannot answer, nothing remembered is used (every request looks its
token up, as without the cache). A revocation written straight into the database (SQL)
bypasses the generation: it holds within ``MAX_AGE_SECONDS``, the bound of any entry.
Unknown and revoked tokens are never remembered, nor is the settings' admin token (it needs
no lookup).

One lookup at a time per token and generation (``lookup``): requests that arrive with the same
token while its lookup runs wait for that one (1,000 event streams opened at once by one
viewer were 1,000 concurrent database lookups, and held ``/health`` for seconds).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from cachetools import TTLCache
from redis.asyncio import Redis
from redis.exceptions import RedisError

from taskplane.auth import Principal
from taskplane.state.keys import Keys

MAX_AGE_SECONDS = 10.0
MAX_ENTRIES = 1024

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Entry:
    principal: Principal
    generation: str


def _fresh() -> str:
    return secrets.token_hex(16)


class TokenCache:
    """One api process's remembered lookups: a ``cachetools.TTLCache`` (at most
    ``max_entries``, least recently used out first, each for ``max_age`` seconds of
    ``clock``)."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        *,
        max_age: float = MAX_AGE_SECONDS,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.redis = redis
        self.key = keys.token_generation
        self.clock = clock
        self._entries: TTLCache[str, _Entry] = TTLCache(
            max_entries, max_age, timer=lambda: self.clock()
        )
        self._running: dict[tuple[str, str | None], asyncio.Future[Principal | None]] = {}

    async def lookup(
        self,
        digest: str,
        generation: str | None,
        look_up: Callable[[], Awaitable[Principal | None]],
    ) -> Principal | None:
        """The principal of a token: remembered, else ``look_up`` run once for every request
        that asks while it runs (same digest and generation), then remembered. A failed
        lookup fails each of its waiters; a cancelled request does not cancel it for them."""
        found = self.get(digest, generation)
        if found is not None:
            return found
        key = (digest, generation)
        running = self._running.get(key)
        if running is None:
            running = asyncio.ensure_future(look_up())
            self._running[key] = running
            running.add_done_callback(lambda _: self._running.pop(key, None))
        principal = await asyncio.shield(running)
        if principal is not None:
            self.put(digest, principal, generation)
        return principal

    async def generation(self) -> str | None:
        """The current token generation; None when Redis cannot say (then nothing
        remembered may be used). A missing value (a flushed Redis) is set afresh."""
        try:
            value = await self.redis.get(self.key)
            if value is None:
                await self.redis.set(self.key, _fresh(), nx=True)
                value = await self.redis.get(self.key)
        except (RedisError, OSError):
            return None
        return None if value is None else str(value)

    def get(self, digest: str, generation: str | None) -> Principal | None:
        if generation is None:
            return None
        entry = self._entries.get(digest)
        if entry is None or entry.generation != generation:
            return None
        return entry.principal

    def put(self, digest: str, principal: Principal, generation: str | None) -> None:
        if generation is None or principal.token_id is None:
            return
        self._entries[digest] = _Entry(principal, generation)

    def __len__(self) -> int:
        return len(self._entries)


async def revoked(redis: Redis, keys: Keys, revoke: Callable[[], Awaitable[T]]) -> T:
    """Run ``revoke`` (commits a token's revocation) between two new token generations.

    The first one, before anything changes, makes an unreachable Redis fail the revocation
    (503) while nothing is revoked; the second, after the commit, voids every replica's
    remembered lookups. Should that one fail, the error is answered (the revocation is
    committed; repeating it is harmless) and remembered lookups expire within the bound.
    """
    await redis.set(keys.token_generation, _fresh())
    result = await revoke()
    await redis.set(keys.token_generation, _fresh())
    return result
