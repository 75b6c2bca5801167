"""How CLI commands reach the same services the API uses: opened per command, closed after."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taskplane.db.session import make_engine, make_session_factory
from taskplane.resources import Resources, open_resources
from taskplane.settings import Settings
from taskplane.state.schedule_state import ScheduleStateService

if TYPE_CHECKING:
    from taskplane.enums import Trigger
    from taskplane.scheduling.service import BatchReport, ReconcileReport, SchedulerService


@asynccontextmanager
async def open_database(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A session factory on a short-lived engine (no Redis needed)."""
    engine = make_engine(settings)
    try:
        yield make_session_factory(engine)
    finally:
        await engine.dispose()


async def migrate_database(settings: Settings) -> None:
    """Create or upgrade the schema on a short-lived engine (a SQLite file's directory is
    created first)."""
    from taskplane.db import migrations

    path = settings.sqlite_path()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings)
    try:
        await migrations.upgrade(engine, settings)
    finally:
        await engine.dispose()


@asynccontextmanager
async def open_resources_for_cli(
    settings: Settings,
) -> AsyncIterator[tuple[Resources, ScheduleStateService]]:
    """Resources on small pools, plus the schedule state service."""
    small = settings.model_copy(update={"redis_pool_size": 4, "db_pool_size": 2})
    async with open_resources(small) as resources:
        yield resources, ScheduleStateService.from_settings(resources.redis, resources.keys, small)


def _scheduler(resources: Resources) -> SchedulerService:
    from taskplane.scheduling.service import SchedulerService

    return SchedulerService.from_resources(resources)


async def run_configs(
    settings: Settings, config_ids: Sequence[int], trigger: Trigger
) -> BatchReport:
    """``scheduling.batch.run_configs`` (what ``POST /runs`` calls) on this command's
    resources."""
    from taskplane.scheduling import batch

    async with open_resources_for_cli(settings) as (resources, _state):
        async with resources.sessions() as session:
            return await batch.run_configs(_scheduler(resources), session, config_ids, trigger)


async def reconcile_all(settings: Settings) -> ReconcileReport:
    """``SchedulerService.reconcile_all`` (what the api and the scheduler run at start) on
    this command's resources: every config's schedule state, orphans removed."""
    async with open_resources_for_cli(settings) as (resources, _state):
        return await _scheduler(resources).reconcile_all(resources.sessions)
