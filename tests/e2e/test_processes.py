"""End to end: the real api, worker and scheduler processes against real PostgreSQL and
Redis, driven over HTTP only, as a client would."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taskplane.settings import Settings
from tests.e2e.processes import free_port, running, settings_env, start, wait_healthy
from tests.support import eventually

pytestmark = pytest.mark.slow


async def _executions(http: httpx.AsyncClient, config_id: int) -> list[dict[str, Any]]:
    response = await http.get("/executions", params={"config_id": config_id, "limit": 500})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def _history(http: httpx.AsyncClient, config_id: int) -> list[dict[str, Any]]:
    response = await http.get(f"/schedules/{config_id}/history", params={"limit": 500})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def _count(executions: list[dict[str, Any]], trigger: str) -> int:
    return sum(1 for e in executions if e["trigger"] == trigger)


async def test_interval_config_fires_pauses_runs_by_hand_and_is_deleted(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    api_port, worker_metrics, scheduler_metrics = free_port(), free_port(), free_port()
    env = settings_env(settings)
    api = start(["api", "--port", str(api_port)], env, tmp_path / "api.log")
    json_env = {**env, "TASKPLANE_LOG_FORMAT": "json"}
    worker = start(
        ["worker", "--metrics-port", str(worker_metrics)], json_env, tmp_path / "worker.log"
    )
    scheduler = start(
        ["scheduler", "--metrics-port", str(scheduler_metrics)],
        json_env,
        tmp_path / "scheduler.log",
    )
    token = settings.admin_token.get_secret_value() if settings.admin_token else ""
    base = f"http://127.0.0.1:{api_port}"

    with running(scheduler, worker, api):
        async with httpx.AsyncClient(
            base_url=f"{base}/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=15
        ) as http:
            await wait_healthy(http, within=90)

            created = await http.post(
                "/configs",
                params={"auto_start": "true"},
                json={
                    "name": "e2e-echo",
                    "task_type": "echo",
                    "scheduler_type": "interval",
                    "schedule_config": {"seconds": 1},
                    "parameters": {"message": "hello from e2e"},
                },
            )
            assert created.status_code == 201, created.text
            config = created.json()
            cid = config["id"]
            assert config["schedule_status"] == "active"

            # the immediate run, then the scheduled ones, each recorded by the worker
            async def immediate_and_scheduled() -> bool:
                runs = await _executions(http, cid)
                return _count(runs, "immediate") >= 1 and _count(runs, "scheduled") >= 2

            await eventually(immediate_and_scheduled, within=60)
            runs = await _executions(http, cid)
            assert _count(runs, "immediate") == 1
            assert all(e["is_success"] for e in runs)
            assert runs[-1]["result"]["data"] == "hello from e2e" or "hello from e2e" in str(
                runs[-1]["result"]
            )

            paused = await http.post(f"/schedules/{cid}/pause", json={"note": "e2e pause"})
            assert paused.status_code == 200, paused.text
            assert paused.json()["status"] == "paused"

            # fires sent before the pause may still be executing: wait until every
            # scheduled fire has its execution, then see that nothing more comes
            async def settled() -> bool:
                fired = [
                    e
                    for e in await _history(http, cid)
                    if e["event"] == "fired" and e["details"].get("trigger") == "scheduled"
                ]
                return _count(await _executions(http, cid), "scheduled") == len(fired)

            await eventually(settled, within=30)
            before = _count(await _executions(http, cid), "scheduled")
            await asyncio.sleep(3.5)  # three intervals: a paused schedule must stay silent
            assert _count(await _executions(http, cid), "scheduled") == before
            history = await _history(http, cid)
            newest_first = [e["event"] for e in history]
            assert "fired" not in newest_first[: newest_first.index("paused")]
            pause_event = history[newest_first.index("paused")]
            assert pause_event["note"] == "e2e pause"
            detail = (await http.get(f"/configs/{cid}")).json()
            assert detail["schedule_status"] == "paused"
            assert detail["next_run_at"] is None

            run = await http.post(f"/configs/{cid}/run")
            assert run.status_code == 202, run.text
            task_id = run.json()["task_id"]
            assert run.json()["trigger"] == "manual"

            async def manual_recorded() -> bool:
                return any(
                    e["task_id"] == task_id and e["trigger"] == "manual" and e["is_success"]
                    for e in await _executions(http, cid)
                )

            await eventually(manual_recorded, within=30)

            status = (await http.get("/system/status")).json()
            assert status["workers"] and status["scheduler"]["leader"]

            deleted = await http.delete(f"/configs/{cid}")
            assert deleted.status_code == 204
            assert (await http.get(f"/configs/{cid}")).status_code == 404
            assert await _executions(http, cid) == []
            assert (await http.get(f"/schedules/{cid}")).status_code == 404

        # every process exposes its Prometheus metrics
        async with httpx.AsyncClient(timeout=10) as plain:
            api_metrics = await plain.get(f"{base}/metrics")
            assert api_metrics.status_code == 200
            worker_text = (await plain.get(f"http://127.0.0.1:{worker_metrics}/metrics")).text
            assert 'taskplane_executions_total{outcome="success",task_type="echo"}' in worker_text
            assert "taskplane_execution_duration_seconds_bucket" in worker_text
            scheduler_text = (await plain.get(f"http://127.0.0.1:{scheduler_metrics}/metrics")).text
            assert "taskplane_fires_sent_total" in scheduler_text
            assert "taskplane_dispatch_lag_seconds_bucket" in scheduler_text
            assert "taskplane_recorder_buffer_depth" in worker_text
            assert 'taskplane_broker_queue_depth{queue="default"}' in worker_text

    # logs: JSON where asked (every line an object), never a token
    for name in ("worker.log", "scheduler.log"):
        lines = [line for line in (tmp_path / name).read_text().splitlines() if line.strip()]
        assert lines, name
        records = [json.loads(line) for line in lines]
        assert all({"ts", "level", "logger", "message"} <= set(r) for r in records)
    for name in ("api.log", "worker.log", "scheduler.log"):
        assert token not in (tmp_path / name).read_text(), name
