"""The worker process around the execution path: in-process ``run_worker`` with a stop
event, clean stop on SIGTERM, heartbeats and their pruning, metrics."""

from __future__ import annotations

import asyncio
import json
import signal
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from redis.asyncio import Redis

from taskplane import metrics
from taskplane.resources import Resources
from taskplane.settings import Settings
from taskplane.state.keys import Keys
from taskplane.worker import run_worker
from taskplane.worker.heartbeat import WorkerPresence
from tests import services as test_services
from tests.support import eventually
from tests.worker.conftest import fast_settings, new_config, send, wait_rows


@pytest.fixture
def settings(services: test_services.TestServices) -> Settings:
    return fast_settings(services, worker_metrics_port=0)


def _count(task_type: str, outcome: str) -> float:
    value: float = metrics.EXECUTIONS.labels(task_type, outcome)._value.get()
    return value


async def test_run_worker_in_process_until_stopped(resources: Resources) -> None:
    redis, keys = resources.redis, resources.keys
    cid = await new_config(resources.sessions)
    ok_before, failed_before = _count("echo", "success"), _count("echo", "failure")
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(resources.settings, ["default"], 4, stop=stop))
    try:
        ids = [await send(redis, keys, cid, "echo", {"message": str(i)}) for i in range(5)]
        ids.append(await send(redis, keys, cid, "echo", {"message": "x", "fail": True}))
        found = await wait_rows(resources.sessions, 6)
        assert {r.task_id for r in found} == set(ids)
        assert _count("echo", "success") - ok_before == 5
        assert _count("echo", "failure") - failed_before == 1
        beats = await redis.hgetall(keys.workers)
        assert [json.loads(v)["queues"] for v in beats.values()] == [["default"]]
    finally:
        stop.set()
        await asyncio.wait_for(worker, 60)
    assert await redis.hlen(keys.workers) == 0  # a clean stop removes the heartbeat
    assert await redis.xlen(keys.recorder_buffer) == 0
    assert await redis.get(keys.recorder_flush_lock) is None


async def test_worker_process_stops_cleanly_on_sigterm(
    settings: Settings, redis: Redis, keys: Keys, spawn: Any
) -> None:
    worker = await spawn(settings)
    await worker.wait_ready(redis, keys)
    assert await worker.stop(signal.SIGTERM, within=20) == 0, worker.output()[-5000:]
    assert await redis.hlen(keys.workers) == 0


async def test_heartbeat_writes_its_fields_and_prunes_stale_workers(
    redis: Redis, keys: Keys
) -> None:
    old = datetime.now(UTC) - timedelta(seconds=60)
    await redis.hset(
        keys.workers,
        mapping={
            "dead": json.dumps({"id": "dead", "heartbeat_at": old.isoformat(), "queues": []}),
            "garbage": "not json",
        },
    )
    presence = WorkerPresence(redis, keys, "w1", ["default", "slow"], stale_seconds=15)
    await presence.beat()
    beats = await redis.hgetall(keys.workers)
    assert set(beats) == {"w1"}
    beat = json.loads(beats["w1"])
    assert beat["id"] == "w1" and beat["queues"] == ["default", "slow"]
    assert isinstance(beat["pid"], int) and beat["host"]
    assert datetime.fromisoformat(beat["heartbeat_at"]) > old
    await presence.leave()
    assert await redis.hlen(keys.workers) == 0


async def test_unknown_queue_gets_no_messages_of_other_queues(resources: Resources) -> None:
    """A worker started on queue 'other' does not take messages of 'default'."""
    redis, keys = resources.redis, resources.keys
    cid = await new_config(resources.sessions)
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(resources.settings, ["other"], 2, stop=stop))
    try:
        await eventually(lambda: _has_beat(redis, keys), within=30)
        await send(redis, keys, cid, "echo", {"message": "here"}, queue="other")
        await send(redis, keys, cid, "echo", {"message": "not here"})
        [row] = await wait_rows(resources.sessions, 1)
        assert row.result is not None and row.result["data"] == "here"
        assert await redis.xlen(keys.broker_stream("default")) == 1
    finally:
        stop.set()
        await asyncio.wait_for(worker, 60)


async def _has_beat(redis: Redis, keys: Keys) -> bool:
    return bool(await redis.hlen(keys.workers))
