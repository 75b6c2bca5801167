from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from taskplane import __version__
from taskplane.enums import ScheduleStatus
from taskplane.settings import Settings
from taskplane.state.keys import Keys
from tests.e2e.processes import running, settings_env, start, stop
from tests.support import eventually


async def beat(redis: Redis, keys: Keys, *, age_seconds: float = 0.0) -> None:
    at = (datetime.now(UTC) - timedelta(seconds=age_seconds)).isoformat()
    await redis.hset(
        keys.scheduler_instances,
        "sched-1",
        json.dumps({"id": "sched-1", "heartbeat_at": at, "is_leader": True, "pid": 1}),
    )
    await redis.set(keys.scheduler_leader, "sched-1")
    await redis.hset(
        keys.workers,
        "worker-1",
        json.dumps({"id": "worker-1", "heartbeat_at": at, "queues": ["default"], "pid": 2}),
    )


async def test_health_is_open_and_ok_with_fresh_heartbeats(
    anonymous: httpx.AsyncClient, redis: Redis, keys: Keys
) -> None:
    await beat(redis, keys)
    response = await anonymous.get("/system/health")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    for component in ("database", "redis", "scheduler", "workers"):
        assert body[component]["ok"] is True
    assert body["workers"]["alive"] == 1


async def test_health_is_503_degraded_without_scheduler_or_workers(
    anonymous: httpx.AsyncClient, redis: Redis, keys: Keys
) -> None:
    none = await anonymous.get("/system/health")
    assert none.status_code == 503
    assert none.json()["status"] == "degraded"
    assert none.json()["database"]["ok"] and none.json()["redis"]["ok"]
    assert not none.json()["scheduler"]["ok"] and not none.json()["workers"]["ok"]
    await beat(redis, keys, age_seconds=3600)
    stale = (await anonymous.get("/system/health")).json()
    assert stale["status"] == "degraded" and stale["scheduler"]["ok"] is False
    assert stale["scheduler"]["heartbeat_age_seconds"] >= 3600


async def test_status_reports_version_counts_scheduler_and_workers(
    client: httpx.AsyncClient, redis: Redis, keys: Keys
) -> None:
    await beat(redis, keys)
    body = (await client.get("/system/status")).json()
    assert body["version"] == __version__
    assert body["uptime_seconds"] >= 0
    assert body["counts"] == {"configs": 0, "executions": 0}
    assert body["scheduler"]["leader"] == "sched-1"
    assert body["scheduler"]["heartbeat_at"] is not None
    assert body["scheduler"]["instances"][0]["is_leader"] is True
    assert body["workers"][0]["id"] == "worker-1"
    assert body["workers"][0]["queues"] == ["default"]


async def test_enums_lists_every_closed_set(client: httpx.AsyncClient) -> None:
    body = (await client.get("/system/enums")).json()
    assert body["scheduler_types"] == ["cron", "interval", "date", "manual"]
    assert body["schedule_statuses"] == ["active", "paused", "inactive", "error"]
    assert body["actions"] == ["start", "stop", "pause", "resume", "reload"]
    assert body["triggers"] == ["scheduled", "manual", "batch", "immediate", "backfill"]
    assert body["roles"] == ["admin", "viewer"]
    assert isinstance(body["task_types"], list)


async def test_dashboard_shape_when_empty(
    client: httpx.AsyncClient, redis: Redis, keys: Keys
) -> None:
    await redis.sadd(keys.all_schedules, "1", "2")
    await redis.sadd(keys.by_status(ScheduleStatus.PAUSED), "2")
    await redis.sadd(keys.by_status(ScheduleStatus.ACTIVE), "1")
    body = (await client.get("/system/dashboard")).json()
    assert body["schedules"] == {"total": 2, "active": 1, "paused": 1, "inactive": 0, "error": 0}
    assert body["executions_24h"] == {"total": 0, "failed": 0, "success_rate": None}
    assert body["recent_failures"] == [] and body["next_fires"] == []


async def test_task_types_page_lists_builtins_with_schemas(client: httpx.AsyncClient) -> None:
    page = (await client.get("/task-types")).json()
    names = [t["name"] for t in page["items"]]
    assert {"echo", "sleep", "http_request", "cleanup_executions"} <= set(names)
    assert page["total"] == len(names) and page["limit"] == 50 and page["offset"] == 0
    echo = next(t for t in page["items"] if t["name"] == "echo")
    assert set(echo) >= {
        "name",
        "description",
        "queue",
        "default_timeout_seconds",
        "default_max_retries",
        "parameters_schema",
    }
    assert "message" in echo["parameters_schema"]["properties"]
    one = (await client.get("/task-types", params={"limit": 1, "offset": 1})).json()
    assert one["items"][0]["name"] == names[1] and one["total"] == len(names)
    enums = (await client.get("/system/enums")).json()
    assert enums["task_types"] == sorted(names)


async def test_health_says_which_component_is_down_and_since_when(
    anonymous: httpx.AsyncClient, redis: Redis, keys: Keys
) -> None:
    await beat(redis, keys, age_seconds=3600)
    body = (await anonymous.get("/system/health")).json()
    assert body["down"] == ["scheduler", "workers"]
    last_beat = datetime.fromisoformat(body["workers"]["down_since"])
    assert abs((datetime.now(UTC) - last_beat).total_seconds() - 3600) < 60
    assert body["database"]["down_since"] is None and body["redis"]["down_since"] is None
    await beat(redis, keys)
    healthy = (await anonymous.get("/system/health")).json()
    assert healthy["down"] == [] and healthy["workers"]["down_since"] is None


@pytest.mark.slow
async def test_health_reports_workers_down_as_soon_as_the_only_worker_exits(
    anonymous: httpx.AsyncClient, redis: Redis, keys: Keys, settings: Settings, tmp_path: Path
) -> None:
    env = settings_env(settings, TASKPLANE_WORKER_METRICS_PORT="0")
    proc = start(["worker"], env, tmp_path / "worker.log")
    with running(proc):
        await beat(redis, keys)  # a fresh scheduler (and a fake worker, removed below)
        await redis.hdel(keys.workers, "worker-1")

        async def worker_up() -> bool:
            body = (await anonymous.get("/system/health")).json()
            return bool(body["workers"]["ok"])

        await eventually(worker_up, within=60)
        stopped_after = datetime.now(UTC)
        assert stop(proc) == 0
    await beat(redis, keys)  # the fake scheduler stays fresh, however slow the start was
    await redis.hdel(keys.workers, "worker-1")
    response = await anonymous.get("/system/health")  # long before it would go stale
    body = response.json()
    assert response.status_code == 503 and body["status"] == "degraded"
    assert body["down"] == ["workers"]
    workers = body["workers"]
    assert workers["ok"] is False
    assert datetime.fromisoformat(workers["down_since"]) >= stopped_after
    assert workers["last_exit"]["reason"] == "stopped"
    assert workers["last_exit"]["id"].startswith("worker-")
