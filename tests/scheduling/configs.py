"""Config rows for the scheduling tests: made in the database and announced to the service
(the ``make_config`` fixture in conftest.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taskplane.actors import CLI
from taskplane.db import configs
from taskplane.db.configs import ConfigRow
from taskplane.enums import SchedulerType
from taskplane.scheduling.service import SchedulerService

CRON = {"cron_expression": "*/5 * * * *", "timezone": "Europe/Berlin"}

MakeConfig = Callable[..., Awaitable[ConfigRow]]


def config_maker(sessions: async_sessionmaker[AsyncSession], svc: SchedulerService) -> MakeConfig:
    counter = iter(range(1, 10_000))

    async def make(
        kind: SchedulerType = SchedulerType.CRON,
        schedule_config: dict[str, Any] | None = None,
        **fields: Any,
    ) -> ConfigRow:
        values: dict[str, Any] = {
            "name": f"cfg-{next(counter)}",
            "task_type": "echo",
            "scheduler_type": kind,
            "schedule_config": CRON if schedule_config is None else schedule_config,
            "parameters": {"message": "hi"},
            **fields,
        }
        async with sessions() as session, session.begin():
            config = await configs.create(session, **values)
        await svc.on_created(config, actor=CLI)
        return config

    return make
