from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taskplane.api.app import create_app
from taskplane.db import configs
from taskplane.settings import Settings
from tests import services as test_services
from tests.api.conftest import make_client
from tests.conftest import make_test_settings

JSON = {"Content-Type": "application/json"}


async def test_body_over_the_limit_is_413(client: httpx.AsyncClient) -> None:
    big = b'{"name": "' + b"x" * (1024 * 1024 + 10) + b'", "role": "viewer"}'
    response = await client.post("/tokens", content=big, headers=JSON)
    assert response.status_code == 413
    assert "detail" in response.json()


async def test_chunked_body_over_the_limit_is_413(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "'
        for _ in range(20):
            yield b"x" * 65536
        yield b'", "role": "viewer"}'

    response = await client.post("/tokens", content=chunks(), headers=JSON)
    assert "content-length" not in response.request.headers  # really chunked
    assert response.status_code == 413


async def test_chunked_body_under_the_limit_is_accepted(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "chunked",'
        yield b' "role": "viewer"}'

    response = await client.post("/tokens", content=chunks(), headers=JSON)
    assert response.status_code == 201


async def test_invalid_json_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/tokens", content=b'{"name": "x", ', headers=JSON)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail[0]["loc"][0] == "body" and set(detail[0]) == {"loc", "msg", "type"}


async def test_lone_surrogate_and_nul_are_422_without_echo(client: httpx.AsyncClient) -> None:
    for raw in (
        b'{"name": "a\\ud800b", "role": "viewer"}',
        b'{"name": "a\\u0000b", "role": "viewer"}',
    ):
        response = await client.post("/tokens", content=raw, headers=JSON)
        assert response.status_code == 422, raw
        (error,) = response.json()["detail"]
        assert error["loc"] == ["body", "name"]
        assert set(error) == {"loc", "msg", "type"}
    key = await client.post(
        "/tokens", content=b'{"name": "x", "role": "viewer", "\\udfff": 1}', headers=JSON
    )
    assert key.status_code == 422
    assert key.json()["detail"][0]["loc"][0] == "body"


async def test_huge_number_is_422_not_500(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/tokens", content=b'{"name": 1e999999, "role": "viewer"}', headers=JSON
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "name"]
    assert "inf" not in response.text.lower()


async def test_wrong_content_type_and_empty_body_are_422(client: httpx.AsyncClient) -> None:
    assert (await client.post("/tokens", content=b"")).status_code == 422
    text = await client.post("/tokens", content=b"name=x", headers={"Content-Type": "text/plain"})
    assert text.status_code == 422


def down_settings(services: test_services.TestServices, *, database: bool, redis: bool) -> Settings:
    overrides: dict[str, object] = {}
    if database:
        overrides["database_url"] = "postgresql+asyncpg://postgres@127.0.0.1:9/none"
    if redis:
        overrides["redis_url"] = "redis://127.0.0.1:9/0"
    return make_test_settings(services, **overrides)


async def test_postgresql_down_is_503_with_a_clear_message(
    services: test_services.TestServices,
) -> None:
    app = create_app(down_settings(services, database=True, redis=False))
    async with app.router.lifespan_context(app), make_client(app, "admin-test-token") as c:
        started = time.monotonic()
        response = await c.get("/executions")
        assert response.status_code == 503
        assert "PostgreSQL" in response.json()["detail"]
        health = await c.get("/system/health")
        assert health.status_code == 503
        body = health.json()
        assert body["status"] == "degraded" and body["database"]["ok"] is False
        assert body["redis"]["ok"] is True
        assert time.monotonic() - started < 60


async def test_redis_down_is_503_with_a_clear_message(
    services: test_services.TestServices, sessions: async_sessionmaker[AsyncSession]
) -> None:
    app = create_app(down_settings(services, database=False, redis=True))
    async with app.router.lifespan_context(app), make_client(app, "admin-test-token") as c:
        for method, path in (("GET", "/system/dashboard"), ("GET", "/schedules/summary")):
            response = await c.request(method, path)
            assert response.status_code == 503, path
            assert "Redis" in response.json()["detail"]
        body = {"name": "x", "task_type": "echo", "scheduler_type": "manual"}
        created = await c.post("/configs", json={**body, "parameters": {"message": "m"}})
        assert created.status_code == 503
        async with sessions() as s:
            assert await configs.count(s) == 0  # the row was removed again
        health = await c.get("/system/health")
        assert health.status_code == 503
        body = health.json()
        assert body["redis"]["ok"] is False and body["database"]["ok"] is True
        assert body["scheduler"]["ok"] is False


async def test_body_that_is_not_utf8_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/tokens", content=b"]\xff\xfe&\x80", headers=JSON)
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"


async def test_a_session_whose_connection_died_still_lets_the_answer_through(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # PostgreSQL going away mid-request: the answer is made, then closing the session tries
    # a ROLLBACK on a closed connection. That used to escape as "Exception in ASGI
    # application" and the client saw a dropped connection instead of its answer.
    from sqlalchemy.exc import InterfaceError

    real_close = AsyncSession.close

    async def closed_connection(self: AsyncSession) -> None:
        await real_close(self)
        raise InterfaceError("ROLLBACK", {}, Exception("the underlying connection is closed"))

    monkeypatch.setattr(AsyncSession, "close", closed_connection)
    response = await client.get("/configs")
    assert response.status_code == 200, response.text
