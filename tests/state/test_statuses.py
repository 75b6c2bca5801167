"""``ScheduleStateService.statuses``: many configs' statuses in one call, read as ``get``
reads them (None without state, an unknown status as ``error``)."""

from __future__ import annotations

from redis.asyncio import Redis

from taskplane.actors import CLI
from taskplane.enums import ScheduleStatus
from taskplane.settings import Settings
from taskplane.state.keys import Keys
from taskplane.state.schedule_state import ScheduleStateService


async def test_statuses_read_as_get_reads_them(
    redis: Redis, keys: Keys, settings: Settings
) -> None:
    state = ScheduleStateService.from_settings(redis, keys, settings)
    await state.create(1, {}, actor=CLI)
    await state.create(2, {}, actor=CLI)
    await state.transition(2, ScheduleStatus.PAUSED, allowed_from=None, event=None, actor=CLI)
    await redis.hset(keys.schedule(4), "status", "retired")  # a status this version lacks
    ids = [2, 3, 1, 4, 2]

    statuses = await state.statuses(ids)

    got = [await state.get(cid) for cid in ids]
    assert statuses == [s.status if s is not None else None for s in got]
    assert statuses == [
        ScheduleStatus.PAUSED,
        None,
        ScheduleStatus.INACTIVE,
        ScheduleStatus.ERROR,
        ScheduleStatus.PAUSED,
    ]
    assert await state.statuses([]) == []
