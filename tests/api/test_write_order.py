"""PATCH and DELETE of a config write PostgreSQL first, then Redis.

- A failed commit leaves Redis untouched (nothing to repair; no run sent with a change that
  was never stored). With Redis written before the commit these tests fail.
- A Redis failure after the commit: PATCH puts the row back (a failed request changes
  nothing); DELETE leaves an orphan in Redis that reconcile removes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from fastapi import FastAPI
from redis import exceptions as redis_errors
from redis.asyncio import Redis
from sqlalchemy import event, exc
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taskplane.db import configs
from taskplane.db.models import TaskConfig
from taskplane.state.keys import Keys
from tests.api.test_configs import create

Sessions = async_sessionmaker[AsyncSession]


@contextmanager
def failing_commit(app: FastAPI) -> Iterator[list[int]]:
    """The app's next COMMIT fails as a lost connection would (the transaction is not
    committed). Yields a list that counts the refused commits."""
    engine = app.state.resources.engine.sync_engine
    refused: list[int] = []

    def refuse(conn: Any) -> None:
        if not refused:
            refused.append(1)
            raise exc.OperationalError("COMMIT", {}, OSError("connection lost"))

    event.listen(engine, "commit", refuse)
    try:
        yield refused
    finally:
        event.remove(engine, "commit", refuse)


async def stored(sessions: Sessions, config_id: int) -> TaskConfig | None:
    async with sessions() as s:
        return await s.get(TaskConfig, config_id)


async def broker_len(redis: Redis, keys: Keys) -> int:
    return int(await redis.xlen(keys.broker_stream("default")))


async def registered_interval(redis: Redis, keys: Keys, config_id: int) -> int:
    raw = await redis.get(keys.source_data(f"taskplane-config-{config_id}"))
    assert raw is not None
    return int(json.loads(raw)["labels"]["schedule_interval_seconds"])


async def active_interval(client: httpx.AsyncClient) -> int:
    cid = int(
        (await create(client, scheduler_type="interval", schedule_config={"seconds": 3600}))["id"]
    )
    assert (await client.post(f"/schedules/{cid}/start")).json()["status"] == "active"
    return cid


# --- PATCH -------------------------------------------------------------------------------


async def test_patch_reaches_redis_only_after_the_row_is_committed(
    client: httpx.AsyncClient, app: FastAPI, sessions: Sessions
) -> None:
    cid = await active_interval(client)
    scheduler = app.state.scheduler
    original = scheduler.on_updated
    seen: list[int] = []

    async def spy(config: Any, changed: Any, *args: Any, **kwargs: Any) -> Any:
        row = await stored(sessions, cid)  # another connection: sees committed data only
        assert row is not None
        seen.append(row.priority)
        return await original(config, changed, *args, **kwargs)

    scheduler.on_updated = spy
    response = await client.patch(f"/configs/{cid}", json={"priority": 7})
    assert response.status_code == 200, response.text
    assert seen == [7]


async def test_patch_whose_commit_fails_leaves_redis_untouched(
    client: httpx.AsyncClient, app: FastAPI, sessions: Sessions, redis: Redis, keys: Keys
) -> None:
    cid = await active_interval(client)
    sent = await broker_len(redis, keys)
    history = await redis.llen(keys.history(cid))
    with failing_commit(app) as refused:
        response = await client.patch(f"/configs/{cid}", json={"schedule_config": {"seconds": 60}})
    assert refused == [1]
    assert response.status_code == 503 and "PostgreSQL" in response.json()["detail"]
    row = await stored(sessions, cid)
    assert row is not None and row.schedule_config == {"seconds": 3600}
    assert await broker_len(redis, keys) == sent  # no immediate run of the unsaved change
    assert await registered_interval(redis, keys, cid) == 3600
    assert await redis.llen(keys.history(cid)) == history  # no `updated` event
    detail = (await client.get(f"/configs/{cid}")).json()
    assert detail["status_consistent"] is True and detail["schedule_status"] == "active"


async def test_patch_whose_redis_side_fails_puts_the_row_back(
    client: httpx.AsyncClient, app: FastAPI, sessions: Sessions, redis: Redis, keys: Keys
) -> None:
    cid = await active_interval(client)

    async def lost(*args: Any, **kwargs: Any) -> Any:
        raise redis_errors.ConnectionError("lost Redis")

    app.state.scheduler.on_updated = lost
    response = await client.patch(
        f"/configs/{cid}", json={"schedule_config": {"seconds": 60}, "name": "renamed"}
    )
    assert response.status_code == 503 and "Redis" in response.json()["detail"]
    row = await stored(sessions, cid)
    assert row is not None
    assert row.schedule_config == {"seconds": 3600} and row.name == "nightly"
    assert await registered_interval(redis, keys, cid) == 3600


async def test_concurrent_patches_end_registered_from_the_latest_row(
    client: httpx.AsyncClient, app: FastAPI, sessions: Sessions, redis: Redis, keys: Keys
) -> None:
    """The Redis side of an earlier PATCH may run after a later PATCH committed: it must
    register the row as it is then, not as that earlier request saw it."""
    cid = await active_interval(client)
    scheduler = app.state.scheduler
    original = scheduler.on_updated
    calls = 0

    async def late(config: Any, changed: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:  # the first PATCH's Redis side runs after a second PATCH
            async with sessions() as s, s.begin():
                row = await configs.get(s, cid)
                await configs.update(s, row, {"schedule_config": {"seconds": 120}})
        return await original(config, changed, *args, **kwargs)

    scheduler.on_updated = late
    response = await client.patch(f"/configs/{cid}", json={"schedule_config": {"seconds": 60}})
    assert response.status_code == 200
    assert response.json()["schedule_config"] == {"seconds": 120}
    assert await registered_interval(redis, keys, cid) == 120
    assert (await client.get(f"/configs/{cid}")).json()["status_consistent"] is True


# --- DELETE ------------------------------------------------------------------------------


async def test_delete_removes_redis_state_only_after_the_row_deletion_is_committed(
    client: httpx.AsyncClient, app: FastAPI, sessions: Sessions
) -> None:
    cid = await active_interval(client)
    scheduler = app.state.scheduler
    original = scheduler.on_deleted
    seen: list[bool] = []

    async def spy(config_id: int) -> None:
        seen.append(await stored(sessions, config_id) is None)
        await original(config_id)

    scheduler.on_deleted = spy
    assert (await client.delete(f"/configs/{cid}")).status_code == 204
    assert seen == [True]


async def test_delete_whose_commit_fails_removes_nothing(
    client: httpx.AsyncClient, app: FastAPI, sessions: Sessions, redis: Redis, keys: Keys
) -> None:
    cid = await active_interval(client)
    with failing_commit(app) as refused:
        response = await client.delete(f"/configs/{cid}")
    assert refused == [1]
    assert response.status_code == 503
    assert await stored(sessions, cid) is not None
    assert await redis.exists(keys.schedule(cid), keys.history(cid)) == 2
    assert await redis.zscore(keys.due, str(cid)) is not None
    detail = (await client.get(f"/configs/{cid}")).json()
    assert detail["schedule_status"] == "active" and detail["status_consistent"] is True


async def test_delete_whose_redis_side_fails_leaves_an_orphan_reconcile_removes(
    client: httpx.AsyncClient, app: FastAPI, sessions: Sessions, redis: Redis, keys: Keys
) -> None:
    cid = await active_interval(client)
    scheduler = app.state.scheduler
    original = scheduler.on_deleted

    async def lost(config_id: int) -> None:
        raise redis_errors.ConnectionError("lost Redis")

    scheduler.on_deleted = lost
    response = await client.delete(f"/configs/{cid}")
    assert response.status_code == 503
    assert await stored(sessions, cid) is None  # the row deletion stands
    assert await redis.zscore(keys.due, str(cid)) is not None  # the orphan
    scheduler.on_deleted = original
    report = await scheduler.reconcile_all(sessions)
    assert report.orphans_removed == [cid]
    assert not await redis.exists(keys.schedule(cid), keys.history(cid))
    assert await redis.zscore(keys.due, str(cid)) is None
    assert (await client.delete(f"/configs/{cid}")).status_code == 404
