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
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from redis import exceptions as redis_errors
from redis.asyncio import Redis
from sqlalchemy import event, exc
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taskplane.api.app import create_app
from taskplane.db import configs
from taskplane.db.models import TaskConfig
from taskplane.embedded_redis import EmbeddedRedis
from taskplane.settings import Settings
from taskplane.state.keys import Keys
from tests.api.configs import create
from tests.api.conftest import make_client
from tests.stored_registrations import stored_text

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
    raw = await stored_text(redis, keys, config_id)
    assert raw is not None
    return int(json.loads(raw)["interval"])  # the label repeats it: left out of the text


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
    scheduler = app.state.services.scheduler
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

    app.state.services.scheduler.on_updated = lost
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
    scheduler = app.state.services.scheduler
    original = scheduler.on_updated
    calls = 0

    async def late(config: Any, changed: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:  # the first PATCH's Redis side runs after a second PATCH
            async with sessions() as s, s.begin():
                await configs.update(s, cid, {"schedule_config": {"seconds": 120}})
        return await original(config, changed, *args, **kwargs)

    scheduler.on_updated = late
    response = await client.patch(f"/configs/{cid}", json={"schedule_config": {"seconds": 60}})
    assert response.status_code == 200
    assert response.json()["schedule_config"] == {"seconds": 120}
    assert await registered_interval(redis, keys, cid) == 120
    assert (await client.get(f"/configs/{cid}")).json()["status_consistent"] is True


# --- DELETE ------------------------------------------------------------------------------


async def test_delete_stops_the_schedule_before_the_row_and_removes_state_after_it(
    client: httpx.AsyncClient,
    app: FastAPI,
    sessions: Sessions,
    redis: Redis,
    keys: Keys,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cid = await active_interval(client)
    scheduler = app.state.services.scheduler
    original_delete = configs.delete
    original_state_delete = scheduler.state.delete
    seen: list[str] = []

    async def row_delete(session: AsyncSession, config_id: int) -> None:
        # the due score is gone before the row goes: no fire can start meanwhile
        seen.append(f"row (due score {await redis.zscore(keys.due, str(config_id))})")
        await original_delete(session, config_id)

    async def state_delete(config_id: int, **audit: Any) -> None:
        seen.append(f"state (row stored: {await stored(sessions, config_id) is not None})")
        await original_state_delete(config_id, **audit)

    monkeypatch.setattr(scheduler.state, "delete", state_delete)
    monkeypatch.setattr(configs, "delete", row_delete)
    assert (await client.delete(f"/configs/{cid}")).status_code == 204
    assert seen == ["row (due score None)", "state (row stored: False)"]
    assert not await redis.exists(keys.schedule(cid), keys.history(cid))


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


async def test_delete_whose_redis_side_fails_after_the_commit_is_done_and_cannot_fire(
    client: httpx.AsyncClient, app: FastAPI, sessions: Sessions, redis: Redis, keys: Keys
) -> None:
    cid = await active_interval(client)
    scheduler = app.state.services.scheduler
    original = scheduler.core.remove

    async def lost(config_id: int) -> bool:
        raise redis_errors.ConnectionError("lost Redis")

    scheduler.core.remove = lost
    response = await client.delete(f"/configs/{cid}")
    # the row is gone: the delete happened, and the answer says so
    assert response.status_code == 204
    assert await stored(sessions, cid) is None
    assert await redis.zscore(keys.due, str(cid)) is None  # it cannot fire
    assert await redis.exists(keys.schedule(cid))  # the orphan state reconcile removes
    scheduler.core.remove = original
    report = await scheduler.reconcile_all(sessions)
    assert report.orphans_removed == [cid]
    assert not await redis.exists(keys.schedule(cid), keys.history(cid))
    assert (await client.delete(f"/configs/{cid}")).status_code == 404


async def test_delete_while_redis_is_unreachable_is_503_and_deletes_nothing(
    settings: Settings, sessions: Sessions, tmp_path: Path
) -> None:
    # a private Redis that this test stops and starts (never the shared one)
    server = EmbeddedRedis(tmp_path / "redis").start()
    private = settings.model_copy(update={"redis_url": SecretStr(server.url)})
    application = create_app(private)
    try:
        async with (
            application.router.lifespan_context(application),
            make_client(application, "admin-test-token") as http,
        ):
            cid = await active_interval(http)
            server.stop()
            response = await http.delete(f"/configs/{cid}")
            assert response.status_code == 503, response.text
            assert "redis" in response.text.lower()
            server.start()
            assert await stored(sessions, cid) is not None
            detail = (await http.get(f"/configs/{cid}")).json()
            assert detail["schedule_status"] == "active"
            assert detail["status_consistent"] is True
            assert detail["next_run_at"] is not None
            # and once Redis is back the same request deletes it
            assert (await http.delete(f"/configs/{cid}")).status_code == 204
            assert await stored(sessions, cid) is None
    finally:
        server.stop()
