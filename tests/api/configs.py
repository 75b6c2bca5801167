"""Configs for the API tests: a request body, one created through the API, the rows counted."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taskplane.db.models import TaskConfig

Sessions = async_sessionmaker[AsyncSession]


def config(name: str = "nightly", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name,
        "description": "says hello",
        "task_type": "echo",
        "scheduler_type": "cron",
        "schedule_config": {"cron_expression": "*/5 * * * *"},
        "parameters": {"message": "hello"},
    }
    body.update(overrides)
    return body


async def create(client: httpx.AsyncClient, name: str = "nightly", **overrides: Any) -> Any:
    response = await client.post("/configs", json=config(name, **overrides))
    assert response.status_code == 201, response.text
    return response.json()


async def rows(sessions: Sessions) -> int:
    async with sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(TaskConfig)) or 0)
