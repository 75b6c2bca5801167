"""`taskplane worker --processes N`: N supervised worker processes, each beating its own
heartbeat; SIGTERM stops them all."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from redis.asyncio import Redis

from taskplane.settings import Settings
from taskplane.state.keys import Keys
from tests.e2e.processes import children_of, kill_group, pid_alive, settings_env, start, stop
from tests.support import eventually

pytestmark = pytest.mark.slow


async def test_worker_processes_are_supervised_and_stopped_together(
    settings: Settings, redis: Redis, keys: Keys, tmp_path: Path
) -> None:
    log = tmp_path / "workers.log"
    proc = start(["worker", "--processes", "2", "--metrics-port", "0"], settings_env(settings), log)
    try:

        async def two_heartbeats() -> bool:
            return len(await redis.hgetall(keys.workers)) == 2

        await eventually(two_heartbeats, within=90)
        children = children_of(proc.pid)
        assert sorted(children.values()) == ["worker", "worker"]
        assert stop(proc, signal.SIGTERM, within=60) == 0, log.read_text()[-2000:]
        assert [pid for pid in children if pid_alive(pid)] == []
    finally:
        for pid in children_of(proc.pid):
            os.kill(pid, signal.SIGKILL)
        kill_group(proc)
