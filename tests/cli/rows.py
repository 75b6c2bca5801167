"""Config rows for the CLI tests, written straight to the database (as the API would)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taskplane.db import configs
from taskplane.enums import SchedulerType


async def echo_config(
    sessions: async_sessionmaker[AsyncSession],
    name: str,
    scheduler_type: SchedulerType = SchedulerType.MANUAL,
    schedule_config: dict[str, Any] | None = None,
) -> int:
    """An `echo` config saying its own name; its id."""
    async with sessions() as session, session.begin():
        row = await configs.create(
            session,
            name=name,
            task_type="echo",
            scheduler_type=scheduler_type,
            schedule_config=schedule_config or {},
            parameters={"message": name},
        )
    return row.id
