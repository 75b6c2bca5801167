"""How CLI commands reach the same services the API uses: opened per command, closed after."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taskplane.actors import CLI
from taskplane.db.session import make_engine, make_session_factory
from taskplane.resources import open_resources
from taskplane.services import Services, open_services
from taskplane.settings import Settings

if TYPE_CHECKING:
    from taskplane.enums import Trigger
    from taskplane.scheduling.service import BatchReport, ReconcileReport


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
async def open_services_for_cli(settings: Settings) -> AsyncIterator[Services]:
    """The command's resources on small pools, and the services built on them
    (``taskplane/services.py``, as every process builds them)."""
    small = settings.model_copy(update={"redis_pool_size": 4, "db_pool_size": 2})
    async with open_resources(small) as resources:
        yield open_services(resources)


async def run_configs(
    settings: Settings, config_ids: Sequence[int], trigger: Trigger
) -> BatchReport:
    """``scheduling.batch.run_configs`` (what ``POST /runs`` calls) on this command's
    services."""
    from taskplane.scheduling import batch

    async with open_services_for_cli(settings) as services:
        async with services.resources.sessions() as session:
            return await batch.run_configs(
                services.scheduler, session, config_ids, trigger, actor=CLI
            )


async def reconcile_all(settings: Settings) -> ReconcileReport:
    """``SchedulerService.reconcile_all`` (what the api and the scheduler run at start) on
    this command's services: every config's schedule state, orphans removed."""
    async with open_services_for_cli(settings) as services:
        return await services.scheduler.reconcile_all(services.resources.sessions)
