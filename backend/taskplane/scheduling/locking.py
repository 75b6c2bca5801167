"""The per-config lock every control action runs under (``Keys.schedule_lock``).

A SET NX PX lease holding a random token, released by compare-and-delete
(``state/leases.RELEASE``, the same script as every other lease), so concurrent actions on
one config from any number of API processes are serialized, and a holder whose lease ran
out never deletes the next holder's lock. A lock not obtained within ``wait_seconds``
raises ``ScheduleBusy`` (a ``Conflict``).

For a script that works on many configs at once (the bulk path, ``bulk/lua.py``), this
module hands out the lock's key (``key``) and its Lua part (``LUA``): the same lease taken,
checked and released inside the script, so the locks of a whole chunk cost no round trip of
their own.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager

from redis.asyncio import Redis

from taskplane.errors import Conflict
from taskplane.state import leases
from taskplane.state.keys import Keys

# The lock's part of a composed script: take (SET NX PX), hold (still this token's?) and
# release (compare-and-delete, as ``leases.RELEASE``; or, once held, delete); free (nobody
# holds it: for a change made whole in one script, as good as taking it and letting go).
LUA = """
local function take_lock(key, token, lease_ms)
  return redis.call('SET', key, token, 'NX', 'PX', lease_ms) ~= false
end
local function holds_lock(key, token)
  return redis.call('GET', key) == token
end
local function release_lock(key, token)
  if redis.call('GET', key) == token then redis.call('DEL', key) end
end
local function release_held(key)  -- a lock holds_lock found this script's
  redis.call('DEL', key)
end
local function lock_free(key)  -- nobody holds it: taking it and letting go in one script
  return redis.call('EXISTS', key) == 0
end
"""


class ScheduleBusy(Conflict):
    """Another control action on this config did not finish in time."""


class ScheduleLocks:
    """Per-config locks: ``async with locks.held(config_id): ...``."""

    def __init__(
        self, redis: Redis, keys: Keys, *, lease_ms: int = 15_000, wait_seconds: float = 30.0
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.lease_ms = lease_ms
        self.wait_seconds = wait_seconds
        self._release = redis.register_script(leases.RELEASE)

    def key(self, config_id: int) -> str:
        """The lock's key (for a composing script: ``LUA``)."""
        return self.keys.schedule_lock(config_id)

    async def try_many(self, config_ids: Iterable[int]) -> dict[int, str]:
        """Take the free locks of many configs in one round trip, without waiting; returns
        the token of each lock taken (a busy config is left out: the caller goes the single
        way for it, which waits)."""
        ids = list(dict.fromkeys(config_ids))
        tokens = {cid: uuid.uuid4().hex for cid in ids}
        async with self.redis.pipeline(transaction=False) as pipe:
            for cid in ids:
                pipe.set(self.keys.schedule_lock(cid), tokens[cid], nx=True, px=self.lease_ms)
            taken = await pipe.execute()
        return {cid: tokens[cid] for cid, ok in zip(ids, taken, strict=True) if ok}

    async def release_many(self, tokens: Mapping[int, str]) -> None:
        """Release locks taken by ``try_many`` (each only if still ours), one round trip."""
        if not tokens:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for cid, token in tokens.items():
                await self._release(keys=[self.keys.schedule_lock(cid)], args=[token], client=pipe)
            await pipe.execute()

    @asynccontextmanager
    async def held(self, config_id: int) -> AsyncIterator[None]:
        key = self.keys.schedule_lock(config_id)
        token = uuid.uuid4().hex
        deadline = time.monotonic() + self.wait_seconds
        delay = 0.002
        while not await self.redis.set(key, token, nx=True, px=self.lease_ms):
            if time.monotonic() > deadline:
                raise ScheduleBusy(f"config {config_id} is busy with another action; retry")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)
        try:
            yield
        finally:
            await asyncio.shield(self._release(keys=[key], args=[token]))
