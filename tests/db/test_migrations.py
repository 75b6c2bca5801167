"""Migrations on a fresh database: upgrade, no drift from the models, downgrade cleanly."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect
from sqlalchemy.ext.asyncio import AsyncEngine

from taskplane.db import migrations
from taskplane.db.models import Base
from taskplane.db.session import make_engine
from taskplane.settings import Settings
from tests import services as test_services


@pytest.fixture(params=["main", "sqlite"])
async def fresh(
    request: pytest.FixtureRequest, services: test_services.TestServices, tmp_path: Path
) -> AsyncIterator[tuple[AsyncEngine, Settings]]:
    name = None
    if request.param == "main" and services.database_kind == "postgresql":
        name = f"taskplane_mig_{uuid.uuid4().hex[:8]}"
        await test_services._pg_admin(services.admin_pg_url or "", f'CREATE DATABASE "{name}"')
        url = services.database_url.rsplit("/", 1)[0] + f"/{name}"
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'mig.db'}"
    settings = Settings(_env_file=None, database_url=url)
    engine = make_engine(settings)
    yield engine, settings
    await engine.dispose()
    if name:
        await test_services._pg_admin(
            services.admin_pg_url or "", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
        )


def _diff(connection: Connection) -> list[object]:
    ctx = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(ctx, Base.metadata))


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def test_upgrade_head_matches_models(fresh: tuple[AsyncEngine, Settings]) -> None:
    engine, settings = fresh
    await migrations.upgrade(engine, settings)
    async with engine.connect() as conn:
        assert await conn.run_sync(_diff) == []
        assert {"task_config", "task_execution", "api_token"} <= await conn.run_sync(_tables)


async def test_upgrade_then_downgrade_base_is_clean(fresh: tuple[AsyncEngine, Settings]) -> None:
    engine, settings = fresh
    await migrations.upgrade(engine, settings)
    await migrations.downgrade(engine, settings)
    async with engine.connect() as conn:
        assert await conn.run_sync(_tables) <= {"alembic_version"}
    await migrations.upgrade(engine, settings)  # and it goes back up again
    async with engine.connect() as conn:
        assert await conn.run_sync(_diff) == []
