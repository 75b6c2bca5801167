"""The connection pool under a burst: by default (``db_max_overflow`` 0) more concurrent
reads than pooled connections wait for one, instead of each opening (and then closing) a
PostgreSQL connection of its own."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from taskplane.db.reads import read_connection
from taskplane.db.session import make_engine
from taskplane.settings import Settings
from tests import services as test_services
from tests.conftest import make_test_settings


async def _backends_of_a_burst(settings: Settings, readers: int) -> set[int]:
    """The PostgreSQL backends (pids) that served ``readers`` concurrent reads."""
    engine = make_engine(settings)
    try:

        async def read() -> int:
            async with read_connection(engine) as conn:
                pid = int((await conn.execute(text("select pg_backend_pid()"))).scalar_one())
                await asyncio.sleep(0.05)  # held while the others check out
                return pid

        return set(await asyncio.gather(*(read() for _ in range(readers))))
    finally:
        await engine.dispose()


async def test_a_burst_waits_for_pooled_connections(services: test_services.TestServices) -> None:
    settings = make_test_settings(services, db_pool_size=3)
    assert settings.db_max_overflow == 0
    assert len(await _backends_of_a_burst(settings, 12)) <= 3


async def test_overflow_when_asked_for(services: test_services.TestServices) -> None:
    settings = make_test_settings(services, db_pool_size=3, db_max_overflow=5)
    assert len(await _backends_of_a_burst(settings, 12)) > 3
