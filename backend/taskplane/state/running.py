"""Executions of a config running now: ``Keys.running(config_id)``, a set of task ids.

The worker's recorder writes it (its claim script adds the task id before the run, its
finish script removes it after; a TTL the worker's heartbeat renews is the safety net for a
worker that died). The scheduler's overlap policy reads it inside the fire script
(``key``: pass it in KEYS; the script checks SCARD), operators read it (``members``), and it
goes with its config (``forget``). No other code names the key.
"""

from __future__ import annotations

from collections.abc import Iterable

from redis.asyncio import Redis

from taskplane.state.keys import Keys


def key(keys: Keys, config_id: int) -> str:
    """The set's key, for a script that adds, removes or counts running task ids."""
    return keys.running(config_id)


async def members(redis: Redis, keys: Keys, config_id: int) -> set[str]:
    """Task ids of the config running now."""
    return {str(m) for m in await redis.smembers(key(keys, config_id))}


async def remove(redis: Redis, keys: Keys, config_id: int, task_id: str) -> None:
    """One task id is no longer running (its attempt ended without a record)."""
    await redis.srem(key(keys, config_id), task_id)


async def renew(redis: Redis, keys: Keys, config_ids: Iterable[int], ttl_seconds: int) -> None:
    """Extend the TTL of the running sets of these configs (one pipeline)."""
    ids = set(config_ids)
    if not ids:
        return
    async with redis.pipeline(transaction=False) as pipe:
        for cid in ids:
            pipe.expire(key(keys, cid), ttl_seconds)
        await pipe.execute()


async def forget(redis: Redis, keys: Keys, config_id: int) -> None:
    """Drop the set of a deleted config."""
    await redis.delete(key(keys, config_id))
