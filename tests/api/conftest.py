"""The app in-process: httpx.AsyncClient over ASGITransport, with the lifespan entered,
against the run's PostgreSQL and the test's Redis prefix."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taskplane import auth
from taskplane.api.app import create_app
from taskplane.enums import Role
from taskplane.settings import Settings

ADMIN = {"Authorization": "Bearer admin-test-token"}
BASE_URL = "http://testserver/api/v1"

Client = Callable[..., httpx.AsyncClient]


@pytest.fixture
async def app(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], redis: Redis
) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


def make_client(app: FastAPI, token: str | None = None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=BASE_URL, headers=headers
    )


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(app, "admin-test-token") as c:
        yield c


@pytest.fixture
async def anonymous(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(app) as c:
        yield c


@pytest.fixture
def new_token(
    sessions: async_sessionmaker[AsyncSession],
) -> Callable[[Role], Awaitable[str]]:
    async def make(role: Role) -> str:
        async with sessions() as s, s.begin():
            _, plaintext = await auth.create_token(s, f"test-{role}", role)
        return plaintext

    return make


@pytest.fixture
async def viewer(
    app: FastAPI, new_token: Callable[[Role], Awaitable[str]]
) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(app, await new_token(Role.VIEWER)) as c:
        yield c
