"""The worker's heartbeat in ``Keys.workers``: field = worker id, JSON
``{id, heartbeat_at, queues, pid, host}`` (read by ``state/heartbeats.py``). Each beat also
prunes fields of workers whose heartbeat went stale (writers prune their own hash)."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Sequence
from datetime import UTC, datetime

from redis.asyncio import Redis

from taskplane.state.heartbeats import parse_worker, withdraw
from taskplane.state.keys import Keys


class WorkerPresence:
    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        worker_id: str,
        queues: Sequence[str],
        *,
        stale_seconds: float = 15.0,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.id = worker_id
        self.queues = list(queues)
        self.stale_seconds = stale_seconds

    def payload(self, now: datetime) -> str:
        return json.dumps(
            {
                "id": self.id,
                "heartbeat_at": now.isoformat(),
                "queues": self.queues,
                "pid": os.getpid(),
                "host": socket.gethostname(),
            },
            separators=(",", ":"),
        )

    async def beat(self, now: datetime | None = None) -> None:
        now = now or datetime.now(UTC)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hset(self.keys.workers, self.id, self.payload(now))
            pipe.hgetall(self.keys.workers)
            _, raw = await pipe.execute()
        stale = []
        for fid, value in raw.items():
            if fid == self.id:
                continue
            beat = parse_worker(fid, value, now=now, stale_seconds=self.stale_seconds)
            if beat is None or beat.is_stale:
                stale.append(fid)
        if stale:
            await self.redis.hdel(self.keys.workers, *stale)

    async def leave(self, reason: str = "stopped") -> None:
        """Withdraw the heartbeat (health and other workers see at once that this one is
        gone: its pending messages are taken over) and note the exit."""
        async with self.redis.pipeline(transaction=False) as pipe:
            withdraw(pipe, self.keys.workers, self.keys.workers_last_exit, self.id, reason)
            await pipe.execute()
