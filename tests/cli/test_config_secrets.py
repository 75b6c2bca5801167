"""`taskplane configs list|show` print secret parameters as the API does: "***"."""

from __future__ import annotations

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taskplane.cli import configs as configs_cli
from taskplane.db import configs
from taskplane.enums import SchedulerType
from taskplane.settings import Settings


async def test_list_and_show_mask_secret_parameters(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], redis: Redis
) -> None:
    async with sessions() as session, session.begin():
        row = await configs.create(
            session,
            name="hook",
            task_type="http_request",
            scheduler_type=SchedulerType.MANUAL,
            schedule_config={},
            parameters={"url": "https://example.com", "headers": {"Authorization": "Bearer s"}},
        )
    shown = await configs_cli.show_config(settings, row.id)
    listed = await configs_cli.list_configs(settings, task_type=None, q=None, limit=50)
    for out in (shown, next(r for r in listed if r["id"] == row.id)):
        assert out["parameters"] == {"url": "https://example.com", "headers": "***"}
