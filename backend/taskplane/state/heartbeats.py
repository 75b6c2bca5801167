"""Scheduler and worker heartbeats, and scheduler leadership, in Redis.

Writers: each scheduler instance beats into ``Keys.scheduler_instances`` and holds the lease
``Keys.scheduler_leader``; each worker beats into ``Keys.workers`` (field = its id, JSON
``{id, heartbeat_at, queues, pid, host}``). A process that stops withdraws its heartbeat
and notes ``{id, exited_at, reason}`` in ``Keys.*_last_exit`` (``withdraw``). Readers
(``/system/status``, ``/system/health``, the CLI) use the ``list_*`` helpers here; a
heartbeat older than ``stale_seconds`` is stale. Writers prune stale fields of their own
hash, so the hashes stay as small as the fleet.

Leadership is a lease: ``SET leader <id> NX PX lease_ms``. The holder renews it well before
it runs out (a Lua compare-and-PEXPIRE, so an instance can never renew a lease another
instance took); an instance that dies stops renewing and another one acquires the key once
it expires. The engine also fences every fire on the lease (see ``scheduling/engine.py``).
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from redis.asyncio import Redis

from taskplane.instants import read_instant
from taskplane.state import leases
from taskplane.state.keys import Keys
from taskplane.state.replies import text


def _now() -> datetime:
    return datetime.now(UTC)


def new_instance_id(kind: str = "scheduler") -> str:
    """An id naming host and pid (readable in status) plus a random tail (unique)."""
    return f"{kind}-{socket.gethostname()}-{os.getpid()}-{os.urandom(3).hex()}"


@dataclass(frozen=True, slots=True)
class SchedulerHeartbeat:
    id: str
    heartbeat_at: datetime
    is_leader: bool
    pid: int | None = None
    host: str | None = None
    is_stale: bool = False

    def to_json(self) -> str:
        return json.dumps(
            {
                "id": self.id,
                "heartbeat_at": self.heartbeat_at.isoformat(),
                "is_leader": self.is_leader,
                "pid": self.pid,
                "host": self.host,
            },
            separators=(",", ":"),
        )


@dataclass(frozen=True, slots=True)
class WorkerHeartbeat:
    id: str
    heartbeat_at: datetime
    queues: list[str] = field(default_factory=list)
    pid: int | None = None
    host: str | None = None
    is_stale: bool = False


@dataclass(frozen=True, slots=True)
class Exit:
    """The last withdrawal of a heartbeat (a worker or scheduler that stopped)."""

    id: str
    exited_at: datetime
    reason: str

    def to_json(self) -> str:
        return json.dumps(
            {"id": self.id, "exited_at": self.exited_at.isoformat(), "reason": self.reason},
            separators=(",", ":"),
        )


def parse_exit(raw: Any) -> Exit | None:
    if raw is None:
        return None
    try:
        data = json.loads(raw)
    except (ValueError, TypeError):
        return None
    at = read_instant(data.get("exited_at")) if isinstance(data, dict) else None
    if at is None:
        return None
    return Exit(id=str(data.get("id") or ""), exited_at=at, reason=str(data.get("reason") or ""))


async def last_exits(redis: Redis, keys: Keys) -> tuple[Exit | None, Exit | None]:
    """(scheduler, worker): the last heartbeat each kind withdrew, if any."""
    scheduler, worker = await redis.mget([keys.scheduler_last_exit, keys.workers_last_exit])
    return parse_exit(scheduler), parse_exit(worker)


def withdraw(pipe: Any, hash_key: str, exit_key: str, instance_id: str, reason: str) -> None:
    """Queue on ``pipe``: remove the heartbeat field and note the exit (one round trip)."""
    pipe.hdel(hash_key, instance_id)
    pipe.set(exit_key, Exit(id=instance_id, exited_at=_now(), reason=reason).to_json())


def _is_stale(at: datetime, now: datetime, stale_seconds: float) -> bool:
    return now - at > timedelta(seconds=stale_seconds)


def _parse_beat(raw: str) -> tuple[dict[str, Any], datetime] | None:
    """A heartbeat's JSON object and its instant; None for anything else."""
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    at = read_instant(data.get("heartbeat_at"))
    return None if at is None else (data, at)


def parse_scheduler(
    field_id: str, raw: str, *, now: datetime, stale_seconds: float
) -> SchedulerHeartbeat | None:
    """One field of ``Keys.scheduler_instances``; None if it is not a heartbeat."""
    parsed = _parse_beat(raw)
    if parsed is None:
        return None
    data, at = parsed
    pid = data.get("pid")
    host = data.get("host")
    return SchedulerHeartbeat(
        id=str(data.get("id") or field_id),
        heartbeat_at=at,
        is_leader=bool(data.get("is_leader", False)),
        pid=pid if isinstance(pid, int) else None,
        host=host if isinstance(host, str) else None,
        is_stale=_is_stale(at, now, stale_seconds),
    )


def parse_worker(
    field_id: str, raw: str, *, now: datetime, stale_seconds: float
) -> WorkerHeartbeat | None:
    """One field of ``Keys.workers``; None if it is not a heartbeat."""
    parsed = _parse_beat(raw)
    if parsed is None:
        return None
    data, at = parsed
    queues = data.get("queues")
    pid = data.get("pid")
    host = data.get("host")
    return WorkerHeartbeat(
        id=str(data.get("id") or field_id),
        heartbeat_at=at,
        queues=[str(q) for q in queues] if isinstance(queues, list) else [],
        pid=pid if isinstance(pid, int) else None,
        host=host if isinstance(host, str) else None,
        is_stale=_is_stale(at, now, stale_seconds),
    )


# --- readers (API, CLI) ---------------------------------------------------------------


def lease_key(keys: Keys) -> str:
    """The scheduler leadership lease, for a script that fences on it (sends only while
    ``GET`` of it is the caller's instance id): the engine's fire script."""
    return keys.scheduler_leader


async def get_leader(redis: Redis, keys: Keys) -> str | None:
    """Id of the instance holding the lease now, or None (no live leader)."""
    return cast("str | None", await redis.get(keys.scheduler_leader))  # a decoding pool


async def list_schedulers(
    redis: Redis, keys: Keys, *, stale_seconds: float, now: datetime | None = None
) -> list[SchedulerHeartbeat]:
    """Every scheduler instance that beat recently enough not to be pruned, sorted by id.

    ``is_leader`` is taken from the lease itself (not the instance's last beat), so at most
    one instance is ever reported as leader.
    """
    now = now or _now()
    async with redis.pipeline(transaction=False) as pipe:
        pipe.hgetall(keys.scheduler_instances)
        pipe.get(keys.scheduler_leader)
        raw, leader = await pipe.execute()
    out: list[SchedulerHeartbeat] = []
    for fid, value in raw.items():
        beat = parse_scheduler(fid, value, now=now, stale_seconds=stale_seconds)
        if beat is None:
            continue
        out.append(
            SchedulerHeartbeat(
                id=beat.id,
                heartbeat_at=beat.heartbeat_at,
                is_leader=beat.id == leader,
                pid=beat.pid,
                host=beat.host,
                is_stale=beat.is_stale,
            )
        )
    return sorted(out, key=lambda b: b.id)


async def list_workers(
    redis: Redis, keys: Keys, *, stale_seconds: float, now: datetime | None = None
) -> list[WorkerHeartbeat]:
    """Every worker heartbeat in ``Keys.workers``, sorted by id, with staleness (from either
    kind of pool: the broker's dead-worker check reads it with its own, ``replies``)."""
    now = now or _now()
    raw = await redis.hgetall(keys.workers)
    out = [
        beat
        for fid, value in ((text(k), text(v)) for k, v in raw.items())
        if (beat := parse_worker(fid, value, now=now, stale_seconds=stale_seconds)) is not None
    ]
    return sorted(out, key=lambda b: b.id)


def live(beats: Sequence[SchedulerHeartbeat] | Sequence[WorkerHeartbeat]) -> int:
    """How many of these heartbeats are fresh."""
    return sum(1 for b in beats if not b.is_stale)


# --- writers (the scheduler process) ----------------------------------------------------


class SchedulerPresence:
    """One scheduler instance's lease and heartbeat.

    ``hold_lease()`` acquires the lease if free or renews it if held by this instance, and
    returns whether this instance leads now; ``beat()`` writes the heartbeat and prunes stale
    fields; ``leave()`` releases the lease (so another instance takes over at once, not after
    the lease runs out) and removes the heartbeat.
    """

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        *,
        instance_id: str | None = None,
        lease_ms: int = 3000,
        stale_seconds: float = 15.0,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.id = instance_id or new_instance_id()
        self.lease_ms = lease_ms
        self.stale_seconds = stale_seconds
        self.is_leader = False
        self._acquire = redis.register_script(leases.ACQUIRE_OR_RENEW)
        self._release = redis.register_script(leases.RELEASE)

    async def hold_lease(self) -> bool:
        held = await self._acquire(keys=[self.keys.scheduler_leader], args=[self.id, self.lease_ms])
        self.is_leader = bool(held)
        return self.is_leader

    async def release_lease(self) -> None:
        await self._release(keys=[self.keys.scheduler_leader], args=[self.id])
        self.is_leader = False

    async def beat(self, now: datetime | None = None) -> None:
        now = now or _now()
        beat = SchedulerHeartbeat(
            id=self.id,
            heartbeat_at=now,
            is_leader=self.is_leader,
            pid=os.getpid(),
            host=socket.gethostname(),
        )
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hset(self.keys.scheduler_instances, self.id, beat.to_json())
            pipe.hgetall(self.keys.scheduler_instances)
            _, raw = await pipe.execute()
        stale = [
            fid
            for fid, value in raw.items()
            if fid != self.id
            and (
                (parsed := parse_scheduler(fid, value, now=now, stale_seconds=self.stale_seconds))
                is None
                or parsed.is_stale
            )
        ]
        if stale:
            await self.redis.hdel(self.keys.scheduler_instances, *stale)

    async def leave(self, reason: str = "stopped") -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.eval(leases.RELEASE, 1, self.keys.scheduler_leader, self.id)
            withdraw(
                pipe, self.keys.scheduler_instances, self.keys.scheduler_last_exit, self.id, reason
            )
            await pipe.execute()
        self.is_leader = False
