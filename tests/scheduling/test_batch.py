"""``scheduling.batch.run_configs``: the batch-run flow ``POST /runs`` and ``taskplane run``
share, against real PostgreSQL and Redis."""

from __future__ import annotations

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taskplane.actors import CLI
from taskplane.db import configs
from taskplane.enums import SchedulerType, Trigger
from taskplane.resources import Resources
from taskplane.scheduling import batch
from taskplane.services import open_services
from taskplane.settings import Settings
from taskplane.state.keys import Keys
from taskplane.state.schedule_state import ScheduleStateService
from taskplane.tasks.registry import load_registry


async def _config(
    sessions: async_sessionmaker[AsyncSession], name: str, task_type: str = "echo"
) -> int:
    async with sessions() as session, session.begin():
        row = await configs.create(
            session,
            name=name,
            task_type=task_type,
            scheduler_type=SchedulerType.MANUAL,
            schedule_config={},
            parameters={"message": name},
        )
    return row.id


async def test_sends_each_config_once_and_reports_the_ones_it_cannot_send(
    settings: Settings,
    resources: Resources,
    sessions: async_sessionmaker[AsyncSession],
    redis: Redis,
    keys: Keys,
) -> None:
    scheduler = open_services(resources, load_registry(settings)).scheduler
    state = ScheduleStateService(redis, keys)
    first, second = await _config(sessions, "first"), await _config(sessions, "second")
    unknown = await _config(sessions, "gone-type", task_type="no_such_type")
    for cid in (first, second, unknown):
        await state.create(cid, {}, actor=CLI)

    async with sessions() as session:
        report = await batch.run_configs(
            scheduler, session, [second, 999_999, first, second, unknown], actor=CLI
        )

    assert [cid for cid, _ in report.dispatched] == [second, first]
    assert len({task_id for _, task_id in report.dispatched}) == 2
    assert report.errors[0] == (999_999, "config 999999 not found")
    assert [cid for cid, _ in report.errors] == [999_999, unknown]
    assert await redis.xlen(keys.broker_stream("default")) == 2
    for cid, task_id in report.dispatched:
        events, _ = await state.history(cid)
        assert events[0].event == "run_requested"
        assert events[0].details == {"task_id": task_id, "trigger": "batch"}
    events, _ = await state.history(unknown)
    assert "run_requested" not in [e.event for e in events]


async def test_the_trigger_is_the_callers(
    settings: Settings,
    resources: Resources,
    sessions: async_sessionmaker[AsyncSession],
    redis: Redis,
    keys: Keys,
) -> None:
    scheduler = open_services(resources, load_registry(settings)).scheduler
    state = ScheduleStateService(redis, keys)
    cid = await _config(sessions, "by-hand")
    await state.create(cid, {}, actor=CLI)

    async with sessions() as session:
        report = await batch.run_configs(scheduler, session, [cid], Trigger.MANUAL, actor=CLI)

    assert report.errors == []
    events, _ = await state.history(cid)
    assert events[0].details == {"task_id": report.dispatched[0][1], "trigger": "manual"}
