"""A list page costs a constant number of SQL statements and Redis round trips: one query
for the page and its count, one Redis pipeline for every state, whatever the page size."""

from __future__ import annotations

import hashlib
import uuid

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taskplane.actors import CLI
from taskplane.db import configs
from taskplane.enums import SchedulerType
from taskplane.scheduling import info_reads
from tests.api.costs import measured


async def seed(app: FastAPI, sessions: async_sessionmaker[AsyncSession], n: int) -> None:
    async with sessions() as s, s.begin():
        rows = [
            await configs.create(
                s,
                name=f"cfg-{i:03d}",
                task_type="echo",
                scheduler_type=SchedulerType.CRON,
                schedule_config={"cron_expression": "*/5 * * * *"},
                parameters={"message": str(i)},
            )
            for i in range(n)
        ]
    scheduler = app.state.services.scheduler
    for row in rows:
        await scheduler.on_created(row, actor=CLI)
    for row in rows[::3]:
        await scheduler.start(row, actor=CLI)


async def test_config_page_cost_does_not_grow_with_page_size(
    app: FastAPI,
    client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await seed(app, sessions, 60)
    costs = {}
    for limit in (1, 5, 50):
        with measured(app, monkeypatch) as cost:
            response = await client.get("/configs", params={"limit": limit})
        assert response.status_code == 200
        page = response.json()
        assert len(page["items"]) == limit and page["total"] == 60
        assert sum(c["schedule_status"] == "active" for c in page["items"]) >= limit // 3
        costs[limit] = (cost.sql, cost.redis)
    assert costs[1] == costs[5] == costs[50], costs
    sql, redis_trips = costs[50]
    assert sql == 1, "one statement for the page and its count"
    assert redis_trips == 1, "one pipeline for every state"


async def test_filtered_page_and_schedule_list_are_constant_too(
    app: FastAPI,
    client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await seed(app, sessions, 30)
    for path, params in (
        ("/configs", {"status": "inactive"}),
        ("/schedules", {}),
        ("/executions", {}),
    ):
        seen = set()
        for limit in (2, 20):
            with measured(app, monkeypatch) as cost:
                response = await client.get(path, params={**params, "limit": limit})
            assert response.status_code == 200
            seen.add((cost.sql, cost.redis))
        assert len(seen) == 1, (path, seen)
        sql, redis_trips = seen.pop()
        assert sql <= 1 and redis_trips <= 2, (path, sql, redis_trips)


async def test_a_page_reads_its_states_even_when_redis_lost_the_script(
    app: FastAPI,
    client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Redis restarted or flushed answers the state script's EVALSHA with NOSCRIPT: the
    read model loads it and reads again (a script text Redis never saw stands for that)."""
    await seed(app, sessions, 6)
    text = f"{info_reads.TEXT}-- {uuid.uuid4().hex}\n"
    monkeypatch.setattr(info_reads, "TEXT", text)
    monkeypatch.setattr(info_reads, "SHA", hashlib.sha1(text.encode()).hexdigest())
    for _ in range(2):  # loaded by the first, used as is by the second
        response = await client.get("/configs", params={"limit": 6})
        assert response.status_code == 200
        items = response.json()["items"]
        assert sum(c["schedule_status"] == "active" for c in items) == 2
        assert all(c["schedule_status"] in ("active", "inactive") for c in items)
