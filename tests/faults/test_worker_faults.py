"""A bare `taskplane worker` against a private Redis: it survives Redis restarts and
outages (one warning per outage, resumes alone), and a killed worker's messages are run by a
live one within seconds, while a live worker's long run is never taken from it."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest
from redis.asyncio import Redis

from taskplane.settings import Settings
from taskplane.state import heartbeats
from taskplane.state.keys import Keys
from tests.faults.conftest import Launch, log_lines, warnings_in
from tests.faults.servers import PrivateRedis
from tests.support import eventually
from tests.worker.conftest import Sessions, new_config, rows, send, wait_rows

pytestmark = [pytest.mark.slow, pytest.mark.faults]


def started(path: Path) -> int:
    """How many times the `test_mark` execution writing ``path`` started."""
    return len(path.read_text().splitlines()) if path.exists() else 0


async def live_workers(
    redis: Redis, keys: Keys, settings: Settings
) -> list[heartbeats.WorkerHeartbeat]:
    beats = await heartbeats.list_workers(
        redis, keys, stale_seconds=settings.heartbeat_stale_seconds
    )
    return [b for b in beats if not b.is_stale]


async def wait_workers(redis: Redis, keys: Keys, settings: Settings, n: int) -> list[str]:
    found: list[str] = []

    async def enough() -> bool:
        nonlocal found
        found = [b.id for b in await live_workers(redis, keys, settings)]
        return len(found) >= n

    await eventually(enough, within=60)
    return found


async def run_once(
    redis: Redis, keys: Keys, sessions: Sessions, cid: int, path: Path, within: float = 60
) -> None:
    """Send a `test_mark` message; it is executed once and recorded once."""
    task_id = await send(redis, keys, cid, "test_mark", {"path": str(path)})
    found = await wait_rows(sessions, 1, within=within, task_id=task_id)
    assert [(r.attempt, r.is_success) for r in found] == [(1, True)]
    assert started(path) == 1


async def test_worker_survives_a_redis_restart_and_a_10s_outage(
    fault_settings: Settings,
    server: PrivateRedis,
    private: Redis,
    keys: Keys,
    sessions: Sessions,
    launch: Launch,
    tmp_path: Path,
) -> None:
    cid = await new_config(sessions, "test_mark", parameters={"path": "unused"})
    proc, log = launch(fault_settings, "worker", "--concurrency", "4")
    await wait_workers(private, keys, fault_settings, 1)
    await run_once(private, keys, sessions, cid, tmp_path / "before")

    for n, pause in enumerate((0.0, 10.0)):  # a restart, then 10 s without Redis
        offset = log.stat().st_size
        server.stop()
        await asyncio.sleep(pause)
        server.start()
        await private.connection_pool.disconnect()  # the test's own connections died
        await run_once(private, keys, sessions, cid, tmp_path / f"after-{n}")
        assert proc.poll() is None, log.read_text()[-3000:]

        async def recovered(since: int = offset) -> bool:
            return any("store reachable again" in line for line in log_lines(log, since))

        await eventually(recovered, within=30)
        lines = log_lines(log, offset)
        warned = warnings_in(lines)
        assert len(warned) == 1, "\n".join(lines)
        assert "store unreachable" in warned[0] and "store=redis" in warned[0]
        back = [line for line in lines if "store reachable again" in line]
        assert len(back) == 1 and "outage_seconds=" in back[0], "\n".join(lines)

    assert len(await rows(sessions)) == 3  # nothing else ran, nothing twice


async def _claim_holder(redis: Redis, keys: Keys, task_id: str) -> str | None:
    value = await redis.get(keys.execution_claim(task_id, 1))
    return None if value is None else str(value)


async def test_killed_worker_messages_run_on_a_live_worker_within_seconds(
    fault_settings: Settings,
    private: Redis,
    keys: Keys,
    sessions: Sessions,
    launch: Launch,
    tmp_path: Path,
) -> None:
    cid = await new_config(sessions, "test_mark", parameters={"path": "unused"})
    procs = {}
    for _ in range(2):
        proc, log = launch(fault_settings, "worker", "--concurrency", "2")
        procs[proc.pid] = (proc, log)
    await wait_workers(private, keys, fault_settings, 2)
    path = tmp_path / "killed"
    task_id = await send(private, keys, cid, "test_mark", {"path": str(path), "seconds": 6})

    async def running() -> bool:
        return started(path) == 1 and bool(await _claim_holder(private, keys, task_id))

    await eventually(running, within=30)
    holder = (await _claim_holder(private, keys, task_id) or "").removeprefix("run:")
    beats = {b.id: b for b in await live_workers(private, keys, fault_settings)}
    victim = procs[beats[holder].pid or 0][0]
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    survivor_log = next(log for p, log in procs.values() if p is not victim)

    # the victim's heartbeat goes stale (3 s) and the survivor takes its message at once,
    # not after broker_idle_timeout_ms (300 s)
    async def rerun() -> bool:
        return started(path) == 2

    await eventually(rerun, within=20)
    found = await wait_rows(sessions, 1, within=60, task_id=task_id)
    assert [(r.attempt, r.is_success, r.worker) for r in found] == [(1, True, found[0].worker)]
    assert found[0].worker != holder
    assert any(
        "re-delivering a message of a dead worker" in line for line in log_lines(survivor_log)
    )


async def test_a_live_workers_long_run_is_never_taken(
    fault_settings: Settings,
    private: Redis,
    keys: Keys,
    sessions: Sessions,
    launch: Launch,
    tmp_path: Path,
) -> None:
    cid = await new_config(sessions, "test_mark", parameters={"path": "unused"})
    logs = [launch(fault_settings, "worker", "--concurrency", "2")[1] for _ in range(2)]
    await wait_workers(private, keys, fault_settings, 2)
    path = tmp_path / "long"
    # longer than the stale threshold (3 s) and many dead-worker checks (0.5 s)
    task_id = await send(private, keys, cid, "test_mark", {"path": str(path), "seconds": 8})
    holders: set[str] = set()

    async def done() -> bool:
        holder = await _claim_holder(private, keys, task_id)
        if holder is not None:
            holders.add(holder.split(":", 1)[1])
        return holder is not None and holder.startswith("done:")

    await eventually(done, within=60)
    assert len(holders) == 1, holders  # one worker held it from claim to record
    found = await wait_rows(sessions, 1, within=30, task_id=task_id)
    assert [r.worker for r in found] == list(holders)
    assert started(path) == 1
    for log in logs:
        assert not any("re-delivering" in line for line in log_lines(log)), log.read_text()
