"""Process-wide resources: one engine, one session factory, one Redis pool per process.

Opened at process start (API lifespan, worker startup, scheduler run, CLI) and handed down;
importing this module opens nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from redis.asyncio import BlockingConnectionPool, Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from taskplane.db.session import make_engine, make_session_factory
from taskplane.settings import Settings
from taskplane.state.keys import Keys


@dataclass(frozen=True, slots=True)
class Resources:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    redis: Redis
    keys: Keys


def make_redis(settings: Settings, *, pool_size: int | None = None) -> Redis:
    """A Redis client on a blocking pool: waiters queue for a connection (with a timeout)
    instead of failing with "No connection available" under load."""
    pool = BlockingConnectionPool.from_url(
        settings.redis_url.get_secret_value(),
        max_connections=pool_size or settings.redis_pool_size,
        timeout=10,
        socket_timeout=30,
        socket_connect_timeout=5,
        health_check_interval=30,
        decode_responses=True,
    )
    return Redis(connection_pool=pool)


@asynccontextmanager
async def open_resources(settings: Settings) -> AsyncIterator[Resources]:
    engine = make_engine(settings)
    redis = make_redis(settings)
    try:
        yield Resources(
            settings=settings,
            engine=engine,
            sessions=make_session_factory(engine),
            redis=redis,
            keys=Keys(settings.redis_prefix),
        )
    finally:
        await redis.aclose()
        await redis.connection_pool.disconnect()
        await engine.dispose()
