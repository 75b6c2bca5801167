"""Alerts with real processes: two `taskplane api` processes and no scheduler, no worker. An
active schedule whose due time passes unrun is reported `late` once (one `alert` event, one
signed webhook) though both api processes run the alert loop; once a scheduler and a worker
start and a run starts, it is resolved once."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taskplane.embedded_redis import free_port
from taskplane.settings import Settings
from tests.alerts.test_webhooks import SECRET, Receiver
from tests.e2e.processes import running, settings_env, start, wait_healthy
from tests.support import eventually

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

CHECK_SECONDS = 1  # each api's alert loop checks this often (its lease decides who leads)


async def _alert_events(http: httpx.AsyncClient, config_id: int) -> list[dict[str, Any]]:
    response = await http.get(f"/schedules/{config_id}/history", params={"limit": 500})
    assert response.status_code == 200, response.text
    return [e for e in response.json()["items"] if e["event"] == "alert"]


async def test_two_api_processes_report_a_late_schedule_once_and_resolve_it_once(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    receiver = Receiver(free_port())
    await receiver.start()
    env = settings_env(
        settings,
        TASKPLANE_ALERT_WEBHOOK_URLS=receiver.url,
        TASKPLANE_ALERT_WEBHOOK_SECRET=SECRET,
        TASKPLANE_ALERT_CHECK_INTERVAL_SECONDS=str(CHECK_SECONDS),
    )
    ports = [free_port(), free_port()]
    apis = [
        start(["api", "--port", str(port)], env, tmp_path / f"api-{i}.log")
        for i, port in enumerate(ports)
    ]
    token = settings.admin_token.get_secret_value() if settings.admin_token else ""
    headers = {"Authorization": f"Bearer {token}"}
    try:
        with running(*apis):
            async with (
                httpx.AsyncClient(
                    base_url=f"http://127.0.0.1:{ports[0]}/api/v1", headers=headers, timeout=15
                ) as one,
                httpx.AsyncClient(
                    base_url=f"http://127.0.0.1:{ports[1]}/api/v1", headers=headers, timeout=15
                ) as two,
            ):
                await wait_healthy(one, within=120, every_part=False)  # no scheduler, no worker
                await wait_healthy(two, within=120, every_part=False)
                created = await one.post(
                    "/configs",
                    params={"auto_start": "true"},
                    json={
                        "name": "late-without-scheduler",
                        "task_type": "echo",
                        "scheduler_type": "interval",
                        "schedule_config": {"seconds": 2, "run_immediately": False},
                        "parameters": {"message": "nobody runs me"},
                        "alerts": {"late_after_seconds": 30},
                    },
                )
                assert created.status_code == 201, created.text
                cid = created.json()["id"]

                # no scheduler runs: its first due time (2 s after the start) passes unrun
                async def opened() -> bool:
                    return len(await _alert_events(two, cid)) >= 1

                await eventually(opened, within=120)
                # several more checks by both processes: still one incident, one webhook
                await asyncio.sleep(5 * CHECK_SECONDS)
                [event] = await _alert_events(one, cid)
                assert event["details"]["kind"] == "late"
                assert event["details"]["state"] == "open"
                assert event["actor"] == "scheduler"
                page = (await two.get("/alerts", params={"config_id": cid})).json()
                assert [(a["kind"], a["state"]) for a in page["items"]] == [("late", "open")]

                async def delivered(n: int) -> bool:
                    return len(receiver.received) >= n

                await eventually(lambda: delivered(1), within=60)
                [(body, signed)] = receiver.received
                assert signed, body
                assert (body["kind"], body["state"], body["config_id"]) == ("late", "open", cid)

                # a scheduler and a worker start: a run starts, the incident resolves once
                scheduler = start(["scheduler"], env, tmp_path / "scheduler.log")
                worker = start(["worker"], env, tmp_path / "worker.log")
                with running(scheduler, worker):

                    async def resolved() -> bool:
                        return len(await _alert_events(one, cid)) >= 2

                    await eventually(resolved, within=120)
                    await eventually(lambda: delivered(2), within=60)
                    await asyncio.sleep(5 * CHECK_SECONDS)
                    states = [e["details"]["state"] for e in await _alert_events(two, cid)]
                    assert states == ["resolved", "open"]  # newest first: each once
                    assert [(b["state"], ok) for b, ok in receiver.received] == [
                        ("open", True),
                        ("resolved", True),
                    ]
    finally:
        await receiver.stop()
