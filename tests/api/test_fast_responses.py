"""The config reads answer plain values encoded by pydantic's serializer (routers/compose.py
``config_fields``), not response models: their JSON must be exactly what the response models
would have encoded, field for field and in the same order."""

from __future__ import annotations

import json
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taskplane.api.routers.compose import config_out, event_out
from taskplane.api.schemas.configs import ConfigDetail, ConfigOut
from taskplane.db import configs
from tests.api.configs import create

Sessions = async_sessionmaker[AsyncSession]


async def _expected(app: FastAPI, sessions: Sessions, config_id: int, history: int) -> Any:
    async with sessions() as s:
        row = await configs.get(s, config_id)
    info = await app.state.services.scheduler.info(row, history=history, next_runs=False)
    if not history:
        return json.loads(config_out(row, info, app.state.services.registry).model_dump_json())
    detail = ConfigDetail(
        **config_out(row, info, app.state.services.registry).model_dump(),
        recent_history=[event_out(e) for e in info.recent_history],
        stats=None,
    )
    return json.loads(detail.model_dump_json())


async def test_a_config_reads_as_its_response_model_encodes_it(
    app: FastAPI, client: httpx.AsyncClient, sessions: Sessions
) -> None:
    started = await create(client, "started", description=None, timeout_seconds=30)
    assert (await client.post(f"/schedules/{started['id']}/start")).status_code == 200
    assert (await client.post(f"/schedules/{started['id']}/pause")).status_code == 200
    idle = await create(client, "idle", scheduler_type="interval", schedule_config={"seconds": 90})
    for config_id in (started["id"], idle["id"]):
        body = (await client.get(f"/configs/{config_id}")).json()
        assert list(body) == list(ConfigDetail.model_fields)
        assert body["recent_history"] or config_id == idle["id"]
        assert body == await _expected(app, sessions, config_id, history=20)


async def test_a_config_page_reads_as_its_response_models_encode_it(
    app: FastAPI, client: httpx.AsyncClient, sessions: Sessions
) -> None:
    ids = [(await create(client, f"cfg-{i}"))["id"] for i in range(3)]
    assert (await client.post(f"/schedules/{ids[1]}/start")).status_code == 200
    page = (await client.get("/configs", params={"limit": 2, "offset": 1})).json()
    assert list(page) == ["items", "total", "limit", "offset"]
    assert (page["total"], page["limit"], page["offset"]) == (3, 2, 1)
    assert [item["id"] for item in page["items"]] == [ids[1], ids[0]]
    for item in page["items"]:
        assert list(item) == list(ConfigOut.model_fields)
        assert item == await _expected(app, sessions, item["id"], history=0)


async def test_a_page_read_again_shows_a_changed_registration(
    client: httpx.AsyncClient,
) -> None:
    """Registrations are parsed once per text (info_reads.decode): a re-registration
    is new text, so the next read shows it."""
    config_id = (await create(client, "changing"))["id"]
    assert (await client.post(f"/schedules/{config_id}/start")).status_code == 200
    for _ in range(2):  # the second read is served from what the first parsed
        item = (await client.get("/configs")).json()["items"][0]
        assert item["schedule"].startswith("cron */5 * * * *")
    changed = {"schedule_config": {"cron_expression": "*/7 * * * *"}}
    assert (await client.patch(f"/configs/{config_id}", json=changed)).status_code == 200
    item = (await client.get("/configs")).json()["items"][0]
    assert item["schedule"].startswith("cron */7 * * * *") and item["status_consistent"]
    detail = (await client.get(f"/configs/{config_id}")).json()
    assert detail["schedule"] == item["schedule"]
