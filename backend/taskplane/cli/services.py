"""How CLI commands reach the same services the API uses: opened per command, closed after."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taskplane.db.session import make_engine, make_session_factory
from taskplane.resources import Resources, open_resources
from taskplane.settings import Settings
from taskplane.state.schedule_state import ScheduleStateService


@asynccontextmanager
async def open_database(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A session factory on a short-lived engine (no Redis needed)."""
    engine = make_engine(settings)
    try:
        yield make_session_factory(engine)
    finally:
        await engine.dispose()


@asynccontextmanager
async def open_resources_for_cli(
    settings: Settings,
) -> AsyncIterator[tuple[Resources, ScheduleStateService]]:
    """Resources on small pools, plus the schedule state service."""
    small = settings.model_copy(update={"redis_pool_size": 4, "db_pool_size": 2})
    async with open_resources(small) as resources:
        yield (
            resources,
            ScheduleStateService(
                resources.redis,
                resources.keys,
                history_max=settings.history_max,
                history_ttl_seconds=settings.history_ttl_seconds,
            ),
        )


async def run_now(settings: Settings, config_ids: list[int]) -> list[dict[str, Any]]:
    raise NotImplementedError("run needs the scheduler service")


async def reconcile_all(settings: Settings) -> str:
    """Reconcile every config's schedule state; a one-line summary of what changed."""
    raise NotImplementedError("reconcile needs the scheduler service")
