"""Executions running now: ``Keys.running(config_id)``, a set of task ids per config, and
``Keys.running_runs``, their index (task id -> JSON of the attempt: config id, attempt,
started_at, trigger, worker).

The worker's recorder writes both in the same scripts (its claim script adds the task id and
its entry before the run, its finish script removes both after; a TTL the worker's heartbeat
renews is the safety net for a worker that died). The scheduler's overlap policy reads the
set inside the fire script (``key``: pass it in KEYS; the script checks SCARD), operators and
the api read both (``members``, ``in_flight``), and the set goes with its config
(``forget``). No other code names the keys.

The index lets ``in_flight`` list every running attempt without scanning the key space. An
entry whose task id is no longer in its config's set (its worker died and the set expired,
or the config was deleted) is not running: ``in_flight`` leaves it out and drops it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from redis.asyncio import Redis

from taskplane.state.keys import Keys

# the index is read at most this many entries a call: the answer's cost is bounded even if
# a crashed worker's leftovers were never dropped
MAX_SCANNED = 10_000

# KEYS[1] the index; item i: KEYS[i + 1] the running set, ARGV[i] its task id. Drops the
# entries whose task id is not in their set (checked and dropped in one step, so an attempt
# claimed meanwhile keeps its entry).
_DROP_STALE = """
for i = 1, #ARGV do
  if redis.call('SISMEMBER', KEYS[i + 1], ARGV[i]) == 0 then
    redis.call('HDEL', KEYS[1], ARGV[i])
  end
end
return #ARGV
"""


@dataclass(frozen=True, slots=True)
class RunningRun:
    """One attempt running now (``attempt``, ``started_at``, ``trigger``, ``worker`` are None
    for an attempt claimed by a worker that wrote no index entry)."""

    config_id: int
    task_id: str
    attempt: int | None = None
    started_at: datetime | None = None
    trigger: str | None = None
    worker: str | None = None


def key(keys: Keys, config_id: int) -> str:
    """The set's key, for a script that adds, removes or counts running task ids."""
    return keys.running(config_id)


def index_key(keys: Keys) -> str:
    """The index's key, for the recorder's scripts (HSET on claim, HDEL on finish)."""
    return keys.running_runs


def entry(config_id: int, attempt: int, started_at: datetime, trigger: str, worker: str) -> str:
    """The index value of one claimed attempt (the claim script HSETs it under the task id)."""
    return json.dumps(
        {
            "config_id": config_id,
            "attempt": attempt,
            "started_at": started_at.isoformat(),
            "trigger": trigger,
            "worker": worker,
        },
        separators=(",", ":"),
    )


def _decode(task_id: str, raw: str | bytes | None, config_id: int) -> RunningRun:
    if raw is None:
        return RunningRun(config_id=config_id, task_id=task_id)
    data = json.loads(raw)
    return RunningRun(
        config_id=int(data["config_id"]),
        task_id=task_id,
        attempt=int(data["attempt"]),
        started_at=datetime.fromisoformat(data["started_at"]),
        trigger=str(data["trigger"]),
        worker=str(data["worker"]),
    )


async def members(redis: Redis, keys: Keys, config_id: int) -> set[str]:
    """Task ids of the config running now."""
    return {str(m) for m in await redis.smembers(key(keys, config_id))}


async def in_flight(
    redis: Redis, keys: Keys, *, config_id: int | None = None, limit: int = 100
) -> list[RunningRun]:
    """The attempts running now (of one config, or of all), newest first, at most ``limit``."""
    if config_id is not None:
        ids = sorted(await members(redis, keys, config_id))
        raws = await redis.hmget(index_key(keys), ids) if ids else []
        runs = [_decode(tid, raw, config_id) for tid, raw in zip(ids, raws, strict=True)]
    else:
        runs = await _all(redis, keys)
    runs.sort(key=lambda r: (r.started_at is not None, r.started_at or 0), reverse=True)
    return runs[:limit]


async def _all(redis: Redis, keys: Keys) -> list[RunningRun]:
    found: list[RunningRun] = []
    async for task_id, raw in redis.hscan_iter(index_key(keys), count=500):
        found.append(_decode(str(task_id), raw, 0))
        if len(found) >= MAX_SCANNED:
            break
    if not found:
        return []
    async with redis.pipeline(transaction=False) as pipe:
        for run in found:
            pipe.sismember(key(keys, run.config_id), run.task_id)
        alive = await pipe.execute()
    stale = [run for run, ok in zip(found, alive, strict=True) if not ok]
    if stale:
        await redis.eval(
            _DROP_STALE,
            1 + len(stale),
            index_key(keys),
            *[key(keys, run.config_id) for run in stale],
            *[run.task_id for run in stale],
        )
    return [run for run, ok in zip(found, alive, strict=True) if ok]


async def remove(redis: Redis, keys: Keys, config_id: int, task_id: str) -> None:
    """One task id is no longer running (its attempt ended without a record)."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.srem(key(keys, config_id), task_id)
        pipe.hdel(index_key(keys), task_id)
        await pipe.execute()


async def renew(redis: Redis, keys: Keys, config_ids: Iterable[int], ttl_seconds: int) -> None:
    """Extend the TTL of the running sets of these configs and of the index (one pipeline)."""
    ids = set(config_ids)
    if not ids:
        return
    async with redis.pipeline(transaction=False) as pipe:
        for cid in ids:
            pipe.expire(key(keys, cid), ttl_seconds)
        pipe.expire(index_key(keys), ttl_seconds)
        await pipe.execute()


async def forget(redis: Redis, keys: Keys, config_id: int) -> None:
    """Drop the set of a deleted config (its index entries go at the next ``in_flight``)."""
    await redis.delete(key(keys, config_id))
