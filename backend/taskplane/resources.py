"""Process-wide resources: one engine, one session factory, one Redis pool and one row
reader pool per process, opened here and closed here, nowhere else.

Opened at process start (API lifespan, worker startup, scheduler run, CLI) and handed down;
importing this module opens nothing. The row reader (db/rows.py, the API's hot reads) opens
its asyncpg pool at its first read, so a process that never reads through it holds no
connection for it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from taskplane.db.rows import RowReader
from taskplane.db.session import make_engine, make_session_factory
from taskplane.redis_clients import make_redis as make_redis  # its pools: redis_clients.py
from taskplane.settings import Settings
from taskplane.state.keys import Keys


@dataclass(frozen=True, slots=True)
class Resources:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    redis: Redis
    keys: Keys
    rows: RowReader


@asynccontextmanager
async def open_resources(settings: Settings) -> AsyncIterator[Resources]:
    engine = make_engine(settings)
    redis = make_redis(settings)
    rows = RowReader(engine, max_size=max(2, settings.db_pool_size // 2))
    try:
        yield Resources(
            settings=settings,
            engine=engine,
            sessions=make_session_factory(engine),
            redis=redis,
            keys=Keys(settings.redis_prefix),
            rows=rows,
        )
    finally:
        await rows.close()
        await redis.aclose()
        await redis.connection_pool.disconnect()
        await engine.dispose()
