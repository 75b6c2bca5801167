"""GET /schedules/{id}/explain driven from real states in Redis and PostgreSQL: a paused
config, an overlap skip and a misfire sent by a real engine tick, no worker for the queue,
no scheduler alive."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from redis.asyncio import Redis

from taskplane.scheduling.engine import Engine
from taskplane.state.heartbeats import SchedulerPresence
from taskplane.state.keys import Keys
from taskplane.worker.heartbeat import WorkerPresence
from tests.api.configs import create


@dataclass
class Clock:
    at: datetime

    def now(self) -> datetime:
        return self.at


async def alive(redis: Redis, keys: Keys, *, worker: bool = True) -> None:
    """A leading scheduler and (optionally) a worker serving the default queue."""
    scheduler = SchedulerPresence(redis, keys)
    assert await scheduler.hold_lease()
    await scheduler.beat()
    if worker:
        await WorkerPresence(redis, keys, "worker-1", ["default"]).beat()


async def explained(client: httpx.AsyncClient, cid: int) -> Any:
    response = await client.get(f"/schedules/{cid}/explain")
    assert response.status_code == 200, response.text
    return response.json()


async def interval_config(client: httpx.AsyncClient, **policy: Any) -> int:
    body = await create(
        client,
        name=f"every-hour-{policy}",
        scheduler_type="interval",
        schedule_config={"hours": 1, **policy},
    )
    assert (await client.post(f"/schedules/{body['id']}/start")).status_code == 200
    return int(body["id"])


def hm(moment: datetime) -> str:
    """As the verdict writes a time: with its date when that is not today's (UTC)."""
    moment = moment.astimezone(UTC)
    if moment.date() == datetime.now(UTC).date():
        return moment.strftime("%H:%M UTC")
    return moment.strftime("%Y-%m-%d %H:%M UTC")


async def test_a_paused_config_says_since_when_and_why(
    client: httpx.AsyncClient, redis: Redis, keys: Keys
) -> None:
    await alive(redis, keys)
    cid = await interval_config(client)
    note = "database maintenance until 14:00"
    assert (await client.post(f"/schedules/{cid}/pause", json={"note": note})).status_code == 200
    body = await explained(client, cid)
    paused_at = datetime.fromisoformat(body["status_at"])
    assert body["verdict"] == (
        f"paused since {hm(paused_at)}: {note!r}; nothing fires until it is resumed"
    )
    assert body["status"] == "paused" and body["note"] == note
    assert body["next_runs"] == []
    # the immediate run of the start is the last fire
    assert body["last_fire"]["task_id"] is not None
    assert body["decisions"][0]["decision"] == "fired"


async def test_an_overlap_skip_is_the_verdict_after_the_engine_skipped(
    client: httpx.AsyncClient, app: FastAPI, redis: Redis, keys: Keys
) -> None:
    await alive(redis, keys)
    cid = await interval_config(client, overlap="skip")
    due = await app.state.services.scheduler.core.next_due(cid)
    await redis.sadd(keys.running(cid), f"{cid}-1")  # a run of it is still going
    engine = Engine(redis, keys, clock=Clock(due + timedelta(milliseconds=100)), history_max=50)
    assert (await engine.tick()).skipped == 1
    body = await explained(client, cid)
    assert body["verdict"] == (
        f"skipped the {hm(due)} fire: the previous run was still running (overlap: skip); "
        f"next fire {hm(due + timedelta(hours=1))}"
    )
    assert body["decisions"][0] == {
        "at": body["decisions"][0]["at"],
        "due_at": due.isoformat().replace("+00:00", "Z"),
        "decision": "skipped",
        "reason": "overlap",
        "detail": None,
    }


async def test_a_misfire_is_the_verdict_after_the_engine_dropped_it(
    client: httpx.AsyncClient, app: FastAPI, redis: Redis, keys: Keys
) -> None:
    await alive(redis, keys)
    cid = await interval_config(client, misfire="skip")
    due = await app.state.services.scheduler.core.next_due(cid)
    engine = Engine(redis, keys, clock=Clock(due + timedelta(minutes=5)), history_max=50)
    assert (await engine.tick()).sent == 0
    body = await explained(client, cid)
    assert body["verdict"].startswith(
        f"skipped the fire due {hm(due)}: no scheduler sent it in time (misfire policy)"
    )
    assert body["decisions"][0]["reason"] == "misfire"


async def test_no_worker_for_the_queue_is_the_verdict(
    client: httpx.AsyncClient, redis: Redis, keys: Keys
) -> None:
    await alive(redis, keys, worker=False)
    cid = await interval_config(client)
    body = await explained(client, cid)
    assert (
        body["verdict"] == "no worker serving queue 'default' is running: fires are queued, not run"
    )
    # a worker that served it, last seen four minutes ago
    gone = WorkerPresence(redis, keys, "worker-gone", ["default"], stale_seconds=15)
    await gone.beat(datetime.now(UTC) - timedelta(minutes=4))
    body = await explained(client, cid)
    assert body["verdict"] == (
        "no worker serving queue 'default' has been seen for 4 min: fires are queued, not run"
    )
    # a live worker of another queue does not serve it
    await WorkerPresence(redis, keys, "worker-email", ["email"]).beat()
    assert "no worker serving queue 'default'" in (await explained(client, cid))["verdict"]


async def test_no_scheduler_alive_is_the_verdict(client: httpx.AsyncClient) -> None:
    cid = await interval_config(client)
    body = await explained(client, cid)
    assert body["verdict"].startswith("no scheduler is running: nothing is sent; the fire due ")


async def test_an_unknown_config_is_404(client: httpx.AsyncClient) -> None:
    assert (await client.get("/schedules/999999/explain")).status_code == 404


async def test_a_viewer_may_explain(viewer: httpx.AsyncClient, client: httpx.AsyncClient) -> None:
    cid = await interval_config(client)
    assert (await viewer.get(f"/schedules/{cid}/explain")).status_code == 200
