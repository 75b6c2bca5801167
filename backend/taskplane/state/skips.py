"""Requested skips: upcoming fires of a schedule that must not be sent (live state).

Layout (``Keys``): ``skips(cid)`` hash {due ms: note}, ``skipping`` the set of configs that
have one, ``skips_version`` a counter every change increments. Which due times may be
skipped is the scheduling package's question (``scheduling/skipping.py``); this module
stores the answer.

Duties:
- ``change`` (skip or unskip) is one script: the hash, the set, the version and the history
  event move together, and past due times are pruned on the way.
- The engine holds a copy (``snapshot``: the version and every config's skips)
  and sends its version with each fire batch (``version_key``); the fire script refuses the
  batch when it changed, so a skip acknowledged to a caller is never missed by a batch
  planned before it.
- ``passed`` drops one due time once its fire was recorded as skipped (no version change:
  the engine forgets it itself; other copies keep a past time, which never fires again).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from redis.asyncio import Redis

from taskplane.state.keys import Keys
from taskplane.state.scripts import PUSH_EVENT

Skips = dict[int, str]
"""{due ms: note ('' none)}."""

# KEYS: 1 skips hash, 2 skipping set, 3 version, 4 history list.
# ARGV: 1 config id, 2 now ms (older fields are pruned), 3 event JSON, 4 history max,
#   5 history TTL, 6 'skip' | 'unskip', then per due time: its ms (and its note for skip).
# Returns the number of fields the change added or removed.
CHANGE = (
    PUSH_EVENT
    + """
local now = tonumber(ARGV[2])
local fields = redis.call('HKEYS', KEYS[1])
for _, due in ipairs(fields) do
  if tonumber(due) < now then redis.call('HDEL', KEYS[1], due) end
end
local changed = 0
if ARGV[6] == 'skip' then
  for i = 7, #ARGV, 2 do
    changed = changed + redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  end
else
  for i = 7, #ARGV do
    changed = changed + redis.call('HDEL', KEYS[1], ARGV[i])
  end
end
if redis.call('HLEN', KEYS[1]) > 0 then
  redis.call('SADD', KEYS[2], ARGV[1])
else
  redis.call('SREM', KEYS[2], ARGV[1])
end
redis.call('INCR', KEYS[3])
push_event(KEYS[4], ARGV[3], ARGV[4], ARGV[5])
return changed
"""
)

# KEYS: 1 skips hash, 2 skipping set, 3 version. ARGV: 1 config id. A config without skips
# changes nothing (no version move: the engine's copy stays valid).
FORGET = """
if redis.call('DEL', KEYS[1]) == 1 then
  redis.call('SREM', KEYS[2], ARGV[1])
  redis.call('INCR', KEYS[3])
end
return 1
"""

# KEYS: 1 skips hash, 2 skipping set. ARGV: 1 config id, 2 due ms.
PASSED = """
redis.call('HDEL', KEYS[1], ARGV[2])
if redis.call('HLEN', KEYS[1]) == 0 then redis.call('SREM', KEYS[2], ARGV[1]) end
return 1
"""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _skips(found: Mapping[Any, Any]) -> Skips:
    return {int(due): _text(note) for due, note in found.items()}


class SkipStore:
    """The requested skips of every config (see the module doc)."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        self._change = redis.register_script(CHANGE)
        self._passed = redis.register_script(PASSED)
        self._forget = redis.register_script(FORGET)

    @property
    def version_key(self) -> str:
        """The counter the fire script compares with the engine's copy."""
        return self.keys.skips_version

    async def read(self, config_id: int) -> Skips:
        """A config's skips, past ones included until pruned."""
        return _skips(await self.redis.hgetall(self.keys.skips(config_id)))

    async def change(
        self,
        config_id: int,
        skips: Mapping[int, str] | Sequence[int],
        *,
        is_skip: bool,
        now_ms: int,
        history: str,
        event: str,
        history_max: int,
        history_ttl_seconds: int,
    ) -> int:
        """Skip (``skips`` {due ms: note}) or unskip (``skips`` due ms) in one script with
        its history ``event``; returns how many due times changed."""
        args: list[Any] = [
            config_id,
            now_ms,
            event,
            history_max,
            history_ttl_seconds,
            "skip" if is_skip else "unskip",
        ]
        if isinstance(skips, Mapping):
            for due_ms, note in skips.items():
                args += [due_ms, note]
        else:
            args += list(skips)
        keys = [
            self.keys.skips(config_id),
            self.keys.skipping,
            self.keys.skips_version,
            history,
        ]
        return int(await self._change(keys=keys, args=args))

    async def snapshot(self) -> tuple[str, dict[int, Skips]]:
        """The version and every config's skips (the engine's copy). The version is read
        first: a change after it makes the copy's version stale, so the fire script refuses
        the copy's next batch and it is read again; contents newer than it are harmless."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.get(self.keys.skips_version)
            pipe.smembers(self.keys.skipping)
            version, members = await pipe.execute()
        ids = sorted(int(m) for m in members)
        async with self.redis.pipeline(transaction=False) as pipe:
            for cid in ids:
                pipe.hgetall(self.keys.skips(cid))
            found = await pipe.execute() if ids else []
        copy = {cid: _skips(each) for cid, each in zip(ids, found, strict=True) if each}
        return (_text(version) if version is not None else "0"), copy

    async def passed(self, config_id: int, due_ms: int) -> None:
        """A skipped due time was recorded: drop it."""
        keys = [self.keys.skips(config_id), self.keys.skipping]
        await self._passed(keys=keys, args=[config_id, due_ms])

    async def forget(self, config_id: int) -> None:
        """A deleted config: its skips go (one script; nothing when it had none)."""
        keys = [self.keys.skips(config_id), self.keys.skipping, self.keys.skips_version]
        await self._forget(keys=keys, args=[config_id])
