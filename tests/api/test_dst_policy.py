"""The DST policy over the API: accepted on a cron config, kept with it, refused (422 naming
the field, nothing stored) on any other kind."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.api.configs import config, create, rows


async def test_a_cron_config_keeps_its_dst_policy(client: httpx.AsyncClient) -> None:
    schedule = {
        "cron_expression": "30 2 * * *",
        "timezone": "Europe/Berlin",
        "on_missing_time": "skip",
        "on_repeated_time": "both",
    }
    body = await create(client, scheduler_type="cron", schedule_config=schedule)
    assert body["schedule_config"] == schedule
    started = await client.post(f"/schedules/{body['id']}/start")
    assert started.json()["status"] == "active"
    info = (await client.get(f"/schedules/{body['id']}")).json()
    assert len(info["next_runs"]) == 5


async def test_a_dst_policy_on_an_interval_is_a_422_naming_it(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    before = await rows(sessions)
    response = await client.post(
        "/configs",
        json=config(
            "not-cron",
            scheduler_type="interval",
            schedule_config={"seconds": 60, "on_missing_time": "skip"},
        ),
    )
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert [d["loc"] for d in detail] == [["body", "schedule_config", "on_missing_time"]]
    assert "cron" in detail[0]["msg"]
    assert await rows(sessions) == before


async def test_a_bad_dst_policy_value_is_a_422_naming_it(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/configs",
        json=config(
            "bad-policy",
            scheduler_type="cron",
            schedule_config={"cron_expression": "0 2 * * *", "on_repeated_time": "twice"},
        ),
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "schedule_config", "on_repeated_time"]
