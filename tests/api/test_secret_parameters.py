"""Secret parameters through the API: an ``http_request`` config's headers are stored and
registered in full but read as "***" by every role (detail, list, search, create and update
answers), a PATCH that sends "***" back keeps them, and no history event carries them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taskplane.db import configs
from taskplane.enums import Role
from tests.api.configs import config
from tests.api.conftest import make_client

SECRET_VALUE = "Bearer sk-live-0123456789"
HEADERS = {"Authorization": SECRET_VALUE}


def _http_config(name: str = "hook") -> dict[str, Any]:
    return config(
        name,
        task_type="http_request",
        scheduler_type="interval",
        schedule_config={"hours": 1},
        parameters={"url": "https://example.com/hook", "headers": HEADERS},
    )


async def _stored(sessions: async_sessionmaker[AsyncSession], config_id: int) -> Any:
    async with sessions() as s:
        return (await configs.get(s, config_id)).parameters


async def test_headers_are_stored_and_sent_but_read_as_the_mask_by_every_role(
    app: FastAPI,
    client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    redis: Redis,
    new_token: Callable[[Role], Awaitable[str]],
) -> None:
    created = await client.post("/configs", params={"auto_start": "true"}, json=_http_config())
    assert created.status_code == 201, created.text
    assert created.json()["parameters"]["headers"] == "***"
    config_id = created.json()["id"]
    assert (await _stored(sessions, config_id))["headers"] == HEADERS
    prefix = app.state.settings.redis_prefix
    # the registration the worker gets (its parameters are too long for the state hash: in
    # a shape of its own)
    registered = (await redis.hgetall(f"{prefix}reg:shapes")).values()
    assert any(SECRET_VALUE in str(v) for v in registered)
    async with make_client(app, await new_token(Role.VIEWER)) as viewer:
        for reader in (client, viewer):
            for response in (
                await reader.get(f"/configs/{config_id}"),
                await reader.get("/configs"),
                await reader.get("/configs", params={"q": "hook"}),
                await reader.get(f"/schedules/{config_id}"),
                await reader.get(f"/schedules/{config_id}/history"),
            ):
                assert response.status_code == 200, response.text
                assert "sk-live" not in response.text
            detail = (await reader.get(f"/configs/{config_id}")).json()
            assert detail["parameters"]["headers"] == "***"
            assert detail["parameters"]["url"] == "https://example.com/hook"


async def test_a_patch_sending_the_mask_back_keeps_the_stored_secret(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    created = (await client.post("/configs", json=_http_config())).json()
    shown = (await client.get(f"/configs/{created['id']}")).json()["parameters"]
    shown["url"] = "https://example.com/other"
    patched = await client.patch(f"/configs/{created['id']}", json={"parameters": shown})
    assert patched.status_code == 200, patched.text
    assert patched.json()["parameters"]["headers"] == "***"
    stored = await _stored(sessions, created["id"])
    assert stored["headers"] == HEADERS and stored["url"] == "https://example.com/other"
    replaced = {**shown, "headers": {"Authorization": "Bearer new"}}
    assert (
        await client.patch(f"/configs/{created['id']}", json={"parameters": replaced})
    ).status_code == 200
    assert (await _stored(sessions, created["id"]))["headers"] == {"Authorization": "Bearer new"}


async def test_the_task_type_schema_marks_headers_write_only(client: httpx.AsyncClient) -> None:
    types = (await client.get("/task-types")).json()["items"]
    http = next(t for t in types if t["name"] == "http_request")
    assert http["parameters_schema"]["properties"]["headers"]["writeOnly"] is True
