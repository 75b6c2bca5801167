"""Real scheduler processes (``python -m taskplane.scheduling``) for the tests: started and
always killed, the leader found through the heartbeats, the fires read back off the stream."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path

from redis.asyncio import Redis

from taskplane import messages
from taskplane.settings import Settings
from taskplane.state import heartbeats
from taskplane.state.keys import Keys
from tests.support import eventually, stream_entries

REPO = Path(__file__).resolve().parents[2]


def scheduler_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKPLANE_")}
    env.update(
        {
            "TASKPLANE_DATABASE_URL": settings.database_url.get_secret_value(),
            "TASKPLANE_REDIS_URL": settings.redis_url.get_secret_value(),
            "TASKPLANE_REDIS_PREFIX": settings.redis_prefix,
            "TASKPLANE_SCHEDULER_METRICS_PORT": "0",
            # these tests register schedules through core with no config rows: a reconcile
            # would rightly remove them as orphans
            "TASKPLANE_SCHEDULER_RECONCILE_AT_START": "false",
            "TASKPLANE_SCHEDULER_RECONCILE_INTERVAL_SECONDS": "0",
            "TASKPLANE_HEARTBEAT_INTERVAL_SECONDS": "0.2",
            "TASKPLANE_SCHEDULER_LEASE_MS": str(settings.scheduler_lease_ms),
            "TASKPLANE_LOG_LEVEL": "INFO",
        }
    )
    return env


class Schedulers:
    """Starts scheduler processes and always kills what is left."""

    def __init__(self, settings: Settings, logdir: Path) -> None:
        self.settings = settings
        self.logdir = logdir
        self.procs: list[asyncio.subprocess.Process] = []

    async def start(self) -> asyncio.subprocess.Process:
        log = open(self.logdir / f"scheduler-{len(self.procs)}.log", "wb")  # noqa: SIM115
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "taskplane.scheduling",
            env=scheduler_env(self.settings),
            cwd=REPO,
            stdout=log,
            stderr=log,
        )
        log.close()
        self.procs.append(proc)
        return proc

    async def stop(self, proc: asyncio.subprocess.Process) -> None:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except TimeoutError:
                proc.kill()
                await proc.wait()

    async def close(self) -> None:
        for proc in self.procs:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


@asynccontextmanager
async def schedulers(settings: Settings, tmp_path: Path) -> AsyncIterator[Schedulers]:
    group = Schedulers(settings, tmp_path)
    try:
        yield group
    finally:
        await group.close()


async def redis_now(redis: Redis) -> float:
    seconds, micros = await redis.time()
    return seconds + micros / 1e6


async def sent_fires(redis: Redis, keys: Keys) -> list[tuple[float, str, int, datetime]]:
    """(sent_at from the stream id, task id, config id, due_at) of every message sent."""
    out = []
    for entry_id, fields in await stream_entries(redis, keys.broker_stream("default")):
        msg = messages.decode(fields["data"])
        out.append(
            (
                int(entry_id.split("-")[0]) / 1000,
                msg.task_id,
                int(msg.labels["config_id"]),
                datetime.fromisoformat(msg.labels["due_at"]),
            )
        )
    return out


async def leader_pid(redis: Redis, keys: Keys) -> tuple[str, int] | None:
    leader = await heartbeats.get_leader(redis, keys)
    if leader is None:
        return None
    for beat in await heartbeats.list_schedulers(redis, keys, stale_seconds=60):
        if beat.id == leader and beat.pid is not None:
            return leader, beat.pid
    return None


async def running_leader(group: Schedulers, redis: Redis, keys: Keys) -> asyncio.subprocess.Process:
    proc = await group.start()

    async def leading() -> bool:
        found = await leader_pid(redis, keys)
        return found is not None and found[1] == proc.pid

    await eventually(leading, within=30)
    return proc
