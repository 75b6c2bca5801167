"""A real scheduler process driven through SchedulerService, as the API drives it: start,
pause and resume are honoured at once; an immediate run is not doubled; a date schedule
fires once and is completed. Marked slow."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from redis.asyncio import Redis

from taskplane import messages
from taskplane.actors import CLI
from taskplane.enums import ScheduleStatus
from taskplane.scheduling.service import SchedulerService
from taskplane.settings import Settings
from taskplane.state.keys import Keys
from tests.scheduling.processes import redis_now, running_leader, schedulers
from tests.scheduling.registrations import Config, Registry
from tests.support import eventually, stream_entries

pytestmark = pytest.mark.slow


async def stream(redis: Redis, keys: Keys) -> list[tuple[float, str, datetime]]:
    """(sent_at from the stream id, trigger, due_at) of every message on the default queue."""
    out = []
    for entry_id, fields in await stream_entries(redis, keys.broker_stream("default")):
        msg = messages.decode(fields["data"])
        out.append(
            (
                int(entry_id.split("-")[0]) / 1000,
                str(msg.labels["trigger"]),
                datetime.fromisoformat(msg.labels["due_at"]),
            )
        )
    return out


async def test_start_pause_resume_through_the_service(
    settings: Settings, redis: Redis, keys: Keys, tmp_path: Path
) -> None:
    svc = SchedulerService(redis, keys, Registry())
    config = Config(id=11, scheduler_type="interval", schedule_config={"seconds": 2})
    await svc.on_created(config, actor=CLI)
    async with schedulers(settings, tmp_path) as group:
        await running_leader(group, redis, keys)

        started_at = await redis_now(redis)
        assert (await svc.start(config, actor=CLI)).success
        [(_, trigger, immediate_due)] = await stream(redis, keys)  # sent by the service
        assert trigger == "immediate"

        async def two_scheduled() -> bool:
            return sum(1 for _, t, _ in await stream(redis, keys) if t == "scheduled") >= 2

        await eventually(two_scheduled, within=30)
        scheduled = [(at, due) for at, t, due in await stream(redis, keys) if t == "scheduled"]
        # not doubled: the first scheduled fire is one interval after the immediate one
        # (the due index keeps milliseconds)
        assert abs(scheduled[0][1] - immediate_due - timedelta(seconds=2)) < timedelta(
            milliseconds=1
        )
        assert scheduled[1][1] - scheduled[0][1] == timedelta(seconds=2)
        for sent_at, due in scheduled:
            assert sent_at - due.timestamp() <= 1.0  # on time
        assert scheduled[0][0] - started_at <= 3.0

        assert (await svc.pause(config, actor=CLI)).status is ScheduleStatus.PAUSED
        paused_at = await redis_now(redis)
        count = len(await stream(redis, keys))
        await asyncio.sleep(3)  # more than one interval
        fires = await stream(redis, keys)
        assert len(fires) == count
        assert all(at <= paused_at + 1.0 for at, _, _ in fires)

        resumed_at = await redis_now(redis)
        assert (await svc.resume(config, actor=CLI)).success

        async def scheduled_after_resume() -> bool:
            return any(
                t == "scheduled" and at > resumed_at for at, t, _ in await stream(redis, keys)
            )

        await eventually(scheduled_after_resume, within=30)


@pytest.mark.parametrize("microseconds", [0, 336])
async def test_date_schedule_fires_once_and_is_completed_by_the_process(
    settings: Settings, redis: Redis, keys: Keys, tmp_path: Path, microseconds: int
) -> None:
    # 336 us: a run_date with sub-millisecond digits (as `datetime.now().isoformat()` gives)
    # once fired on every tick for ever, because the due index rounds it down to the ms
    svc = SchedulerService(redis, keys, Registry())
    async with schedulers(settings, tmp_path) as group:
        await running_leader(group, redis, keys)
        run_at = datetime.fromtimestamp(int(await redis_now(redis)) + 2, UTC) + timedelta(
            microseconds=microseconds
        )
        config = Config(
            id=12, scheduler_type="date", schedule_config={"run_date": run_at.isoformat()}
        )
        await svc.on_created(config, actor=CLI)
        assert (await svc.start(config, actor=CLI)).success

        async def completed() -> bool:
            return await svc.state.status(12) is ScheduleStatus.INACTIVE

        await eventually(completed, within=30)
        await asyncio.sleep(0.5)  # several more ticks: none may send it again
        fires = await stream(redis, keys)
        assert [(t, due) for _, t, due in fires] == [("scheduled", run_at.replace(microsecond=0))]
        assert not await svc.core.is_registered(12)
        events = [e.event for e in (await svc.state.history(12))[0]]
        assert "completed" in events
        assert "fired" in events
