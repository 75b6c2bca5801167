"""ConfigService (scheduling/config_service.py) on its own: create, update and delete of a
config with its schedule following the row, every problem of a bad config at once, and a
call whose Redis side fails leaving the row as it was (a Redis that refuses connections,
not a stub)."""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taskplane.actors import CLI
from taskplane.db import configs
from taskplane.db.configs import ConfigRow
from taskplane.enums import SchedulerType, ScheduleStatus
from taskplane.errors import Conflict, InvalidInput, NotFound
from taskplane.resources import Resources, make_redis
from taskplane.scheduling.config_service import ConfigService
from taskplane.services import Services, open_services
from taskplane.tasks.registry import TaskRegistry

Sessions = async_sessionmaker[AsyncSession]
HOURLY = {"seconds": 3600, "run_immediately": False}


@pytest.fixture
def built(resources: Resources, registry: TaskRegistry) -> Services:
    return open_services(resources, registry)


@pytest.fixture
def service(built: Services) -> ConfigService:
    return built.configs


@pytest.fixture
async def unreachable(resources: Resources, registry: TaskRegistry) -> AsyncIterator[Services]:
    """The same database, and a Redis that refuses every connection."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = resources.settings.model_copy(
        update={"redis_url": SecretStr(f"redis://127.0.0.1:{port}/0")}
    )
    dead = make_redis(settings)
    yield open_services(dataclasses.replace(resources, redis=dead), registry)
    await dead.aclose()


def fields(name: str = "nightly", **over: Any) -> dict[str, Any]:
    return {
        "name": name,
        "description": None,
        "task_type": "echo",
        "scheduler_type": SchedulerType.INTERVAL,
        "schedule_config": HOURLY,
        "parameters": {"message": "hi"},
        "max_retries": 0,
        "timeout_seconds": None,
        "priority": 0,
        **over,
    }


async def create(service: ConfigService, values: dict[str, Any], **options: Any) -> ConfigRow:
    return (await service.create(values, **options, actor=CLI)).row


async def stored(sessions: Sessions, config_id: int) -> ConfigRow | None:
    async with sessions() as s:
        return await configs.find(s, config_id)


async def count(sessions: Sessions) -> int:
    async with sessions() as s:
        return await configs.count(s)


# --- create ---------------------------------------------------------------------------------


async def test_create_stores_the_row_and_an_inactive_state(
    service: ConfigService, built: Services, sessions: Sessions
) -> None:
    row = await create(service, fields())
    assert isinstance(row, ConfigRow) and row.name == "nightly"
    assert await stored(sessions, row.id) == row
    state = await built.state.get(row.id)
    assert state is not None and state.status is ScheduleStatus.INACTIVE
    assert await built.core.get_spec(row.id) is None  # not started: not registered


async def test_run_settings_left_out_are_the_task_types(service: ConfigService) -> None:
    created = await service.create(
        fields(max_retries=None, timeout_seconds=None, priority=None), actor=CLI
    )
    assert created.row.timeout_seconds == 60  # echo declares 60 s
    assert created.run_settings_source == {
        "max_retries": "default",
        "timeout_seconds": "task_type",
        "priority": "default",
    }


async def test_create_with_auto_start_registers_it(service: ConfigService, built: Services) -> None:
    row = await create(service, fields(), auto_start=True)
    assert (await built.scheduler.info(row)).status is ScheduleStatus.ACTIVE
    spec = await built.core.get_spec(row.id)
    assert spec is not None and spec.interval_seconds == 3600


async def test_an_invalid_config_names_every_field_and_changes_nothing(
    service: ConfigService, built: Services, sessions: Sessions
) -> None:
    with pytest.raises(InvalidInput) as caught:
        await create(
            service,
            fields(
                scheduler_type=SchedulerType.CRON,
                schedule_config={"cron_expression": "61 * * * *"},
                parameters={"message": 5},
            ),
        )
    locs = {e.loc[0] for e in caught.value.errors}
    assert locs == {"parameters", "schedule_config"}
    with pytest.raises(InvalidInput) as unknown:
        await create(service, fields(task_type="no_such_type"))
    assert [e.loc for e in unknown.value.errors] == [("task_type",)]
    assert await count(sessions) == 0
    assert await built.state.all_ids() == set()


async def test_a_taken_name_is_a_conflict(service: ConfigService, sessions: Sessions) -> None:
    await create(service, fields("taken"))
    with pytest.raises(Conflict, match="taken"):
        await create(service, fields("taken"))
    assert await count(sessions) == 1


async def test_a_date_in_the_past_is_refused_before_anything_is_stored(
    service: ConfigService, built: Services, sessions: Sessions
) -> None:
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    with pytest.raises(InvalidInput) as caught:
        await create(
            service,
            fields(scheduler_type=SchedulerType.DATE, schedule_config={"run_date": past}),
            auto_start=True,
        )
    assert caught.value.errors[0].loc == ("schedule_config", "run_date")
    assert await count(sessions) == 0
    assert await built.state.all_ids() == set()


async def test_a_create_whose_redis_side_fails_leaves_no_row(
    unreachable: Services, sessions: Sessions
) -> None:
    with pytest.raises(RedisConnectionError):
        await unreachable.configs.create(fields(), actor=CLI)
    assert await count(sessions) == 0


# --- update ---------------------------------------------------------------------------------


async def test_update_changes_the_row_and_reregisters_an_active_schedule(
    service: ConfigService, built: Services, sessions: Sessions
) -> None:
    row = await create(service, fields(), auto_start=True)
    updated = await service.update(
        row.id, {"schedule_config": {"seconds": 60}, "priority": 4}, actor=CLI
    )
    assert updated.schedule_config == {"seconds": 60} and updated.priority == 4
    assert updated.updated_at > row.updated_at
    assert await stored(sessions, row.id) == updated
    spec = await built.core.get_spec(row.id)
    assert spec is not None and spec.interval_seconds == 60
    assert (await built.scheduler.info(updated)).status_consistent


async def test_an_invalid_update_changes_nothing(
    service: ConfigService, sessions: Sessions
) -> None:
    row = await create(service, fields())
    with pytest.raises(InvalidInput) as caught:
        await service.update(row.id, {"parameters": {"message": 5}}, actor=CLI)
    assert caught.value.errors[0].loc[0] == "parameters"
    with pytest.raises(Conflict):
        await service.update(
            row.id, {"name": (await create(service, fields("other"))).name}, actor=CLI
        )
    with pytest.raises(NotFound):
        await service.update(987_654, {"priority": 1}, actor=CLI)
    assert await stored(sessions, row.id) == row


async def test_an_update_whose_redis_side_fails_puts_the_row_back(
    service: ConfigService, unreachable: Services, sessions: Sessions
) -> None:
    row = await create(service, fields(), auto_start=True)
    with pytest.raises(RedisConnectionError):
        await unreachable.configs.update(row.id, {"schedule_config": {"seconds": 60}}, actor=CLI)
    assert await stored(sessions, row.id) == row  # every field, updated_at too


# --- delete ---------------------------------------------------------------------------------


async def test_delete_removes_the_row_its_state_and_its_registration(
    service: ConfigService, built: Services, sessions: Sessions
) -> None:
    row = await create(service, fields(), auto_start=True)
    await service.delete(row.id, actor=CLI)
    assert await stored(sessions, row.id) is None
    assert await built.state.get(row.id) is None
    assert await built.core.get_spec(row.id) is None
    with pytest.raises(NotFound):
        await service.delete(row.id, actor=CLI)


async def test_a_delete_with_redis_unreachable_changes_nothing(
    service: ConfigService, unreachable: Services, sessions: Sessions
) -> None:
    row = await create(service, fields())
    with pytest.raises(RedisConnectionError):
        await unreachable.configs.delete(row.id, actor=CLI)
    assert await stored(sessions, row.id) == row


async def test_every_process_builds_one_set_of_services(built: Services) -> None:
    """The composition root wires one state and one core through every service."""
    assert built.scheduler.state is built.state
    assert built.scheduler.core is built.core
    assert built.configs.scheduler is built.scheduler
    assert built.rows is built.resources.rows
    assert isinstance(built.resources.redis, Redis)
