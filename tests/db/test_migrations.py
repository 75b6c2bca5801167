"""Migrations on a fresh database: upgrade, no drift from the models, downgrade cleanly."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, delete, insert, inspect, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from taskplane.db import migrations
from taskplane.db.models import Base, TaskConfig, TaskConfigCount, TaskExecution
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


_COUNTER_TRIGGERS = {
    "task_config_count_insert",
    "task_config_count_delete",
    "task_config_count_restore",
}


async def _triggers(engine: AsyncEngine) -> dict[str, str]:
    """The database's triggers: name -> how often it fires (PostgreSQL: ROW or STATEMENT)."""
    async with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            rows = await conn.execute(
                text(
                    "SELECT tgname, CASE WHEN tgtype & 1 = 1 THEN 'ROW' ELSE 'STATEMENT' END"
                    " FROM pg_trigger WHERE NOT tgisinternal"
                )
            )
        else:
            rows = await conn.execute(
                text("SELECT name, 'ROW' FROM sqlite_master WHERE type = 'trigger'")
            )
        return {str(name): str(level) for name, level in rows}


async def test_upgrade_counts_existing_configs_and_downgrade_removes_the_counter(
    fresh: tuple[AsyncEngine, Settings],
) -> None:
    engine, settings = fresh
    await migrations.upgrade(engine, settings, "0001")
    rows = [
        {
            "name": f"old-{i}",
            "task_type": "echo",
            "scheduler_type": "manual",
            "schedule_config": {},
            "parameters": {},
            "max_retries": 0,
            "priority": 0,
            "created_at": datetime.now(UTC),
            "updated_at": datetime.now(UTC),
        }
        for i in range(37)
    ]
    async with engine.begin() as conn:
        await conn.execute(insert(TaskConfig), rows)
    await migrations.upgrade(engine, settings)
    async with engine.begin() as conn:
        assert (await conn.execute(select(TaskConfigCount.total))).scalars().all() == [37]
        await conn.execute(delete(TaskConfig).where(TaskConfig.name.in_(["old-1", "old-2"])))
        assert (await conn.execute(select(TaskConfigCount.total))).scalar_one() == 35
    triggers = await _triggers(engine)
    if engine.dialect.name == "postgresql":  # one update per statement, and on TRUNCATE
        pg_triggers = _COUNTER_TRIGGERS | {"task_config_count_truncate"}
        assert triggers == dict.fromkeys(pg_triggers, "STATEMENT")
    else:
        assert triggers == dict.fromkeys(_COUNTER_TRIGGERS, "ROW")

    await migrations.downgrade(engine, settings, "0001")
    async with engine.begin() as conn:
        assert "task_config_count" not in await conn.run_sync(_tables)
        await conn.execute(delete(TaskConfig))  # no trigger left to touch a missing table
        if engine.dialect.name == "postgresql":
            functions = await conn.execute(
                text("SELECT proname FROM pg_proc WHERE proname LIKE 'task_config_count%'")
            )
            assert functions.all() == []
    assert await _triggers(engine) == {}


def _config_row(name: str) -> dict[str, object]:
    return {
        "name": name,
        "task_type": "echo",
        "scheduler_type": "manual",
        "schedule_config": {},
        "parameters": {},
        "max_retries": 0,
        "priority": 0,
        "created_at": datetime.now(UTC),
        "updated_at": datetime.now(UTC),
    }


async def _create_then_delete_newest(
    engine: AsyncEngine, first: str, second: str
) -> tuple[int, int]:
    async with engine.begin() as conn:
        old = (
            await conn.execute(insert(TaskConfig).returning(TaskConfig.id), [_config_row(first)])
        ).scalar_one()
        await conn.execute(delete(TaskConfig).where(TaskConfig.id == old))
        new = (
            await conn.execute(insert(TaskConfig).returning(TaskConfig.id), [_config_row(second)])
        ).scalar_one()
    return int(old), int(new)


async def test_an_id_is_never_handed_out_twice(fresh: tuple[AsyncEngine, Settings]) -> None:
    engine, settings = fresh
    await migrations.upgrade(engine, settings)
    old, new = await _create_then_delete_newest(engine, "a", "b")
    assert new > old  # SQLite without AUTOINCREMENT gave "b" the id of deleted "a"


async def test_0003_keeps_every_row_trigger_and_reference_of_an_existing_sqlite_database(
    fresh: tuple[AsyncEngine, Settings],
) -> None:
    engine, settings = fresh
    await migrations.upgrade(engine, settings, "0002")
    async with engine.begin() as conn:
        ids = (
            (
                await conn.execute(
                    insert(TaskConfig).returning(TaskConfig.id),
                    [_config_row(f"c{i}") for i in range(3)],
                )
            )
            .scalars()
            .all()
        )
        await conn.execute(
            insert(TaskExecution),
            [
                {
                    "config_id": ids[0],
                    "task_id": f"t{i}",
                    "task_type": "echo",
                    "trigger": "manual",
                    "is_success": True,
                    "attempt": 1,
                    "started_at": datetime.now(UTC),
                    "completed_at": datetime.now(UTC),
                    "duration_seconds": 0.1,
                }
                for i in range(4)
            ],
        )
    before = await _triggers(engine)
    await migrations.upgrade(engine, settings)
    assert await _triggers(engine) == before
    async with engine.begin() as conn:
        assert (await conn.execute(select(TaskConfig.id))).scalars().all() == list(ids)
        assert len((await conn.execute(select(TaskExecution.id))).all()) == 4  # not cascaded
        assert (await conn.execute(select(TaskConfigCount.total))).scalar_one() == 3
        assert await conn.run_sync(_diff) == []
        # the reference and its cascade still hold
        await conn.execute(delete(TaskConfig).where(TaskConfig.id == ids[0]))
        assert (await conn.execute(select(TaskExecution.id))).all() == []
    old, new = await _create_then_delete_newest(engine, "x", "y")
    assert new > old


async def _insert_execution(engine: AsyncEngine, config_id: int, trigger: str) -> None:
    """A row as the recorder writes it: what the database's CHECK constraint allows."""
    async with engine.begin() as conn:
        await conn.execute(
            insert(TaskExecution),
            [
                {
                    "config_id": config_id,
                    "task_id": f"{config_id}-{trigger}",
                    "task_type": "echo",
                    "trigger": trigger,
                    "is_success": True,
                    "attempt": 1,
                    "started_at": datetime.now(UTC),
                    "completed_at": datetime.now(UTC),
                    "duration_seconds": 0.0,
                }
            ],
        )


async def test_0006_lets_executions_be_backfills_and_downgrade_makes_them_manual(
    fresh: tuple[AsyncEngine, Settings],
) -> None:
    engine, settings = fresh
    await migrations.upgrade(engine, settings, "0005_hB_alerts")
    async with engine.begin() as conn:
        cid = (
            await conn.execute(insert(TaskConfig).returning(TaskConfig.id), [_config_row("c")])
        ).scalar_one()
    with pytest.raises(IntegrityError):  # the old CHECK constraint refuses it
        await _insert_execution(engine, cid, "backfill")
    await _insert_execution(engine, cid, "batch")
    await migrations.upgrade(engine, settings)
    await _insert_execution(engine, cid, "backfill")
    triggers = "SELECT task_id, trigger FROM task_execution ORDER BY task_id"
    async with engine.connect() as conn:
        assert (await conn.execute(text(triggers))).all() == [
            (f"{cid}-backfill", "backfill"),
            (f"{cid}-batch", "batch"),
        ]
        assert await conn.run_sync(_diff) == []
    assert set(await _triggers(engine)) >= _COUNTER_TRIGGERS  # the rebuild kept them
    await migrations.downgrade(engine, settings, "0005_hB_alerts")
    async with engine.connect() as conn:
        assert (await conn.execute(text(triggers))).all() == [
            (f"{cid}-backfill", "manual"),
            (f"{cid}-batch", "batch"),
        ]
    with pytest.raises(IntegrityError):
        await _insert_execution(engine, cid, "backfill")
