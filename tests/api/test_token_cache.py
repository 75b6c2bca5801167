"""Remembered token lookups (api/token_cache.py): a warm replica skips the lookup, yet a
revoked token is refused from the next request on, however it was revoked through taskplane,
and whenever the shared token generation cannot vouch for what a replica remembers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, cast

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taskplane.api.app import create_app
from taskplane.api.token_cache import MAX_AGE_SECONDS, TokenCache
from taskplane.auth import Principal, hash_token
from taskplane.cli.tokens import _revoke
from taskplane.db import tokens
from taskplane.enums import Role
from taskplane.settings import Settings
from taskplane.state.keys import Keys
from tests.api.conftest import make_client
from tests.api.costs import measured

Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture
async def replicas(
    settings: Settings, sessions: Sessions, redis: Redis
) -> AsyncIterator[list[FastAPI]]:
    apps = [create_app(settings), create_app(settings)]
    async with apps[0].router.lifespan_context(apps[0]):
        async with apps[1].router.lifespan_context(apps[1]):
            yield apps


async def _token_id(sessions: Sessions, token: str) -> int:
    async with sessions() as s:
        found = await s.scalar(
            text("SELECT id FROM api_token WHERE token_hash = :h"), {"h": hash_token(token)}
        )
    assert found is not None
    return int(found)


async def _revoke_in_sql(sessions: Sessions, token_id: int) -> None:
    """A revocation taskplane is not told of (no new token generation)."""
    async with sessions() as s, s.begin():
        await s.execute(
            text("UPDATE api_token SET revoked_at = now() WHERE id = :id"), {"id": token_id}
        )


async def _warm(clients: list[httpx.AsyncClient]) -> None:
    for _ in range(3):
        for c in clients:
            assert (await c.get("/configs")).status_code == 200


async def test_a_warm_replica_answers_without_looking_the_token_up(
    app: FastAPI,
    new_token: Callable[[Role], Awaitable[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with make_client(app, await new_token(Role.VIEWER)) as viewer:
        with measured(app, monkeypatch) as cold:
            assert (await viewer.get("/configs")).status_code == 200
        with measured(app, monkeypatch) as warm:
            assert (await viewer.get("/configs")).status_code == 200
    assert warm.sql == 1, "the page's query only: the lookup is remembered"
    assert cold.sql > warm.sql
    # remembered by digest, never by the token itself
    cache: TokenCache = app.state.token_cache
    assert len(cache) == 1


async def test_taskplane_token_revoke_is_honoured_by_every_warm_replica_at_once(
    replicas: list[FastAPI],
    settings: Settings,
    sessions: Sessions,
    new_token: Callable[[Role], Awaitable[str]],
) -> None:
    token = await new_token(Role.VIEWER)
    async with make_client(replicas[0], token) as first, make_client(replicas[1], token) as second:
        await _warm([first, second])
        await _revoke(settings, await _token_id(sessions, token))  # the CLI's revocation
        assert (await second.get("/configs")).status_code == 401
        assert (await first.get("/configs")).status_code == 401


async def test_a_lost_token_generation_voids_what_replicas_remember(
    replicas: list[FastAPI],
    settings: Settings,
    sessions: Sessions,
    redis: Redis,
    new_token: Callable[[Role], Awaitable[str]],
) -> None:
    """A flushed Redis loses the generation: a fresh one is set, so nothing remembered
    under the old one is used (here the revocation is not announced at all)."""
    token = await new_token(Role.VIEWER)
    async with make_client(replicas[0], token) as first, make_client(replicas[1], token) as second:
        await _warm([first, second])
        await redis.delete(Keys(settings.redis_prefix).token_generation)
        await _revoke_in_sql(sessions, await _token_id(sessions, token))
        assert (await first.get("/configs")).status_code == 401
        assert (await second.get("/configs")).status_code == 401


async def test_without_a_token_generation_every_request_looks_its_token_up(
    app: FastAPI,
    sessions: Sessions,
    new_token: Callable[[Role], Awaitable[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Redis cannot say the generation: nothing remembered is trusted."""
    token = await new_token(Role.VIEWER)
    async with make_client(app, token) as viewer:
        await _warm([viewer])
        cache: TokenCache = app.state.token_cache

        async def unreachable(*args: object, **kwargs: object) -> None:
            raise RedisConnectionError("Redis is away")

        monkeypatch.setattr(cache.redis, "get", unreachable)
        assert await cache.generation() is None
        await _revoke_in_sql(sessions, await _token_id(sessions, token))
        assert (await viewer.get("/configs")).status_code == 401


async def test_an_unannounced_revocation_holds_once_the_remembered_lookup_expires(
    app: FastAPI,
    sessions: Sessions,
    new_token: Callable[[Role], Awaitable[str]],
) -> None:
    """A revocation written straight into the database is the only one the generation does
    not see: it holds once the remembered lookup is older than the bound."""
    token = await new_token(Role.VIEWER)
    cache: TokenCache = app.state.token_cache
    async with make_client(app, token) as viewer:
        await _warm([viewer])
        await _revoke_in_sql(sessions, await _token_id(sessions, token))
        assert (await viewer.get("/configs")).status_code == 200  # still remembered
        later = time.monotonic() + MAX_AGE_SECONDS + 1
        cache.clock = lambda: later  # the bound has passed for what is remembered
        assert (await viewer.get("/configs")).status_code == 401


def test_remembered_lookups_are_bounded_in_number_and_age() -> None:
    now = [100.0]
    cache = TokenCache(
        cast(Redis, None), Keys("t:"), max_age=10.0, max_entries=2, clock=lambda: now[0]
    )
    principal = Principal(role=Role.VIEWER, token_id=1, name="a")
    for digest in ("a", "b", "c"):
        cache.put(digest, principal, "g1")
    assert len(cache) == 2 and cache.get("a", "g1") is None  # the oldest went out
    assert cache.get("c", "g1") == principal
    assert cache.get("c", "g2") is None  # another generation: not used
    assert cache.get("c", None) is None  # Redis cannot say: not used
    now[0] += 10.0
    assert cache.get("c", "g1") is None and len(cache) == 0


async def test_one_lookup_serves_every_request_that_asks_while_it_runs() -> None:
    cache = TokenCache(cast(Redis, None), Keys("t:"))
    principal = Principal(role=Role.VIEWER, token_id=1, name="a")
    calls = 0
    gate = asyncio.Event()

    async def look_up() -> Principal | None:
        nonlocal calls
        calls += 1
        await gate.wait()
        return principal

    waiting = [asyncio.create_task(cache.lookup("d", "g1", look_up)) for _ in range(20)]
    other = asyncio.create_task(cache.lookup("d", "g2", look_up))  # another generation
    await asyncio.sleep(0.01)
    waiting[0].cancel()  # one request gone: the lookup goes on for the others
    gate.set()
    assert await asyncio.gather(*waiting[1:]) == [principal] * 19
    assert await other == principal
    assert calls == 2
    # remembered (one entry per digest: the newest generation looked up)
    assert await cache.lookup("d", "g2", look_up) == principal and calls == 2


async def test_a_failed_lookup_fails_its_waiters_and_the_next_request_tries_again() -> None:
    cache = TokenCache(cast(Redis, None), Keys("t:"))
    calls = 0

    async def failing() -> Principal | None:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        raise OSError("database gone")

    results = await asyncio.gather(
        *(cache.lookup("d", "g1", failing) for _ in range(5)), return_exceptions=True
    )
    assert calls == 1 and all(isinstance(r, OSError) for r in results)
    with pytest.raises(OSError):
        await cache.lookup("d", "g1", failing)
    assert calls == 2
    unknown = await cache.lookup("u", "g1", _none)
    assert unknown is None and len(cache) == 0  # an unknown token is never remembered


async def _none() -> Principal | None:
    return None


async def test_many_requests_with_one_cold_token_look_it_up_once(
    app: FastAPI,
    new_token: Callable[[Role], Awaitable[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with make_client(app, await new_token(Role.VIEWER)) as one:
        with measured(app, monkeypatch) as cold:
            assert (await one.get("/configs")).status_code == 200
        with measured(app, monkeypatch) as warm:
            assert (await one.get("/configs")).status_code == 200
    lookup = cold.sql - warm.sql
    assert lookup > 0
    find = tokens.find_active_by_hash

    async def slow_find(*args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(0.05)  # a lookup that takes a while: the burst arrives meanwhile
        return await find(*args, **kwargs)

    monkeypatch.setattr(tokens, "find_active_by_hash", slow_find)
    async with make_client(app, await new_token(Role.VIEWER)) as many:
        with measured(app, monkeypatch) as burst:
            answers = await asyncio.gather(*(many.get("/configs") for _ in range(30)))
    assert [a.status_code for a in answers] == [200] * 30
    assert burst.sql == 30 * warm.sql + lookup, "one lookup for the 30 requests"
