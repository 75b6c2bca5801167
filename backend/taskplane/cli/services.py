"""How CLI commands reach the same services the API uses: opened per command, closed after."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taskplane.db.session import make_engine, make_session_factory
from taskplane.settings import Settings


@asynccontextmanager
async def open_database(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A session factory on a short-lived engine (no Redis needed)."""
    engine = make_engine(settings)
    try:
        yield make_session_factory(engine)
    finally:
        await engine.dispose()


async def reconcile_all(settings: Settings) -> str:
    """Reconcile every config's schedule state; a one-line summary of what changed."""
    raise NotImplementedError("reconcile needs the scheduler service")
