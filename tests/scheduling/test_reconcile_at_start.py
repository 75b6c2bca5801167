"""Reconcile at process start: the API repairs drift before serving, and a config created by
another process while reconcile runs keeps its schedule."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taskplane.actors import CLI
from taskplane.api.app import create_app
from taskplane.db import configs
from taskplane.db.configs import ConfigRow
from taskplane.enums import ScheduleStatus
from taskplane.scheduling.process import run_scheduler
from taskplane.scheduling.service import SchedulerService
from taskplane.settings import Settings
from taskplane.state.keys import Keys
from tests.scheduling.configs import MakeConfig
from tests.stored_registrations import drop
from tests.support import eventually


async def _unregister_behind_its_back(
    svc: SchedulerService, config: ConfigRow, redis: Redis, keys: Keys
) -> None:
    """Start the config, then remove its registration without the service knowing."""
    await svc.start(config, actor=CLI)
    await drop(redis, keys, config.id)
    await redis.zrem(keys.due, str(config.id))


async def test_api_start_repairs_a_schedule_removed_behind_its_back(
    svc: SchedulerService,
    make_config: MakeConfig,
    settings: Settings,
    redis: Redis,
    keys: Keys,
) -> None:
    config = await make_config()
    await _unregister_behind_its_back(svc, config, redis, keys)
    assert not (await svc.info(config)).status_consistent

    app = create_app(settings)
    async with app.router.lifespan_context(app):
        info = await svc.info(config)
    assert info.status is ScheduleStatus.ACTIVE
    assert info.status_consistent and info.is_actually_scheduled


async def test_reconcile_all_keeps_a_config_created_after_its_snapshot(
    svc: SchedulerService,
    make_config: MakeConfig,
    sessions: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    old = await make_config()
    created_meanwhile = await make_config()
    await svc.start(created_meanwhile, actor=CLI)
    real_all_ids = configs.all_ids

    async def snapshot_before_the_create(session: AsyncSession) -> list[int]:
        return [i for i in await real_all_ids(session) if i != created_meanwhile.id]

    monkeypatch.setattr(configs, "all_ids", snapshot_before_the_create)
    report = await svc.reconcile_all(sessions)
    assert report.orphans_removed == []
    info = await svc.info(created_meanwhile)
    assert info.status is ScheduleStatus.ACTIVE and info.is_actually_scheduled

    async with sessions() as s, s.begin():
        await configs.delete(s, old.id)  # a real orphan is still removed
    report = await svc.reconcile_all(sessions)
    assert report.orphans_removed == [old.id]


async def test_scheduler_start_repairs_a_schedule_removed_behind_its_back(
    svc: SchedulerService,
    make_config: MakeConfig,
    settings: Settings,
    redis: Redis,
    keys: Keys,
) -> None:
    config = await make_config()
    await _unregister_behind_its_back(svc, config, redis, keys)
    stop = asyncio.Event()
    quiet = settings.model_copy(update={"scheduler_metrics_port": 0})
    runner = asyncio.create_task(run_scheduler(quiet, stop=stop))
    try:

        async def repaired() -> bool:
            return (await svc.info(config)).status_consistent

        await eventually(repaired, within=20)
    finally:
        stop.set()
        await asyncio.wait_for(runner, 20)
    history, _ = await svc.state.history(config.id)
    assert "repaired" in [e.event for e in history]


async def test_leading_scheduler_removes_an_orphan_while_it_runs(
    svc: SchedulerService,
    make_config: MakeConfig,
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    keys: Keys,
    redis: Redis,
) -> None:
    config = await make_config()
    await svc.start(config, actor=CLI)
    stop = asyncio.Event()
    quick = settings.model_copy(
        update={"scheduler_metrics_port": 0, "scheduler_reconcile_interval_seconds": 0.3}
    )
    runner = asyncio.create_task(run_scheduler(quick, stop=stop))
    try:
        # the row goes while the scheduler runs and Redis is left behind (as when a DELETE
        # commits and then loses Redis)
        async with sessions() as s, s.begin():
            await configs.delete(s, config.id)

        async def orphan_gone() -> bool:
            return await redis.zscore(keys.due, str(config.id)) is None and not await redis.exists(
                keys.schedule(config.id)
            )

        await eventually(orphan_gone, within=20)
    finally:
        stop.set()
        await asyncio.wait_for(runner, 20)
