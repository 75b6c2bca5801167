"""A standby warms: it parses the registrations it would fire from before it leads, so a
take-over starts firing from kept templates; a template it made from a text replaced since
is never sent (the fire script checks the text's SHA1)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from redis.asyncio import Redis

from taskplane.scheduling import loop, standby
from taskplane.scheduling.core import SchedulerCoreService
from taskplane.scheduling.engine import Engine
from taskplane.state.heartbeats import SchedulerPresence
from taskplane.state.keys import Keys
from tests.scheduling.registrations import Config, Registry, interval, register
from tests.scheduling.test_engine import T0, FakeClock, make_engine, sent


async def test_a_standby_parses_every_registration_a_slice_per_turn_then_rests(
    redis: Redis, keys: Keys
) -> None:
    engine = make_engine(redis, keys, FakeClock())
    for cid in range(1, 8):
        await register(redis, keys, cid, interval(10), T0 + timedelta(seconds=cid))
    await redis.zadd(keys.due, {"not-a-number": 1})  # soonest, and ignored as a tick ignores it
    warm = engine.standby.warm
    assert [await warm(limit=3), await warm(limit=3), await warm(limit=3)] == [2, 3, 2]
    assert all(cid in engine.registrations for cid in range(1, 8))
    for _ in range(5):  # the pass's end, then a whole pass more that finds nothing new
        assert await warm(limit=3) == 0
    assert engine.standby._rest_until > 0  # so it rests
    await register(redis, keys, 8, interval(10), T0)
    assert await warm(limit=3) == 0  # still resting (REST_SECONDS)
    engine.standby._rest_until = 0.0
    assert sum([await warm(limit=3) for _ in range(4)]) == 1  # the new one only
    assert 8 in engine.registrations


async def test_a_turn_parses_several_full_slices_and_stops_when_one_is_not_full(
    redis: Redis, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(standby, "WARM_BATCH", 3)
    engine = make_engine(redis, keys, FakeClock())
    for cid in range(1, 21):
        await register(redis, keys, cid, interval(10), T0 + timedelta(seconds=cid))
    assert await engine.standby.turn() == 3 * standby.WARM_SLICES  # four full slices
    assert await engine.standby.turn() == 20 - 12  # two full, one of two: caught up
    assert all(cid in engine.registrations for cid in range(1, 21))
    assert await engine.standby.turn() == 0


async def test_a_standby_stops_at_the_templates_bound(redis: Redis, keys: Keys) -> None:
    engine = make_engine(redis, keys, FakeClock(), templates_max=2)
    for cid in range(1, 6):
        await register(redis, keys, cid, interval(10), T0)
    assert await engine.standby.warm(limit=10) == 2  # the bound is reached: no start afresh
    assert engine.registrations.is_full
    assert await engine.standby.warm(limit=10) == 0


async def test_a_warmed_template_of_a_text_replaced_since_is_not_sent(
    redis: Redis, keys: Keys
) -> None:
    clock = FakeClock()
    engine = make_engine(redis, keys, clock)
    await register(redis, keys, 5, interval(10), T0)
    assert await engine.standby.warm() == 1
    core = SchedulerCoreService(redis, keys, Registry())
    spec = interval(10)
    replaced = Config(id=5, parameters={"message": "new text"})
    await core.add(replaced, spec, due_at=T0, now=T0 - timedelta(seconds=1))
    clock.advance(0.2)
    first = await engine.tick()
    assert (first.sent, first.lost) == (0, 1)  # planned from the warmed text: refused
    second = await engine.tick()
    assert second.sent == 1
    [message] = await sent(redis, keys)
    assert message["kwargs"] == {"message": "new text"}


async def test_a_follower_in_the_loop_warms_and_fires_from_its_templates_once_it_leads(
    redis: Redis, keys: Keys
) -> None:
    for cid in range(1, 4):
        await register(redis, keys, cid, interval(3600), T0)
    await redis.set(keys.scheduler_leader, "someone-else", px=60_000)
    presence = SchedulerPresence(redis, keys, instance_id="standby", lease_ms=1000)
    clock = FakeClock(T0 + timedelta(seconds=0.2))
    engine = Engine(redis, keys, presence=presence, clock=clock, tick_ms=20)
    stop = asyncio.Event()
    running = asyncio.create_task(loop.run(engine, stop))
    try:
        async with asyncio.timeout(10):
            while not all(cid in engine.registrations for cid in range(1, 4)):
                await asyncio.sleep(0.02)
        assert await sent(redis, keys) == []  # a standby sends nothing
        kept = {cid: engine.registrations.get(cid) for cid in range(1, 4)}
        await redis.delete(keys.scheduler_leader)  # the leader is gone: the standby takes over
        async with asyncio.timeout(10):
            while len(await sent(redis, keys)) < 3:
                await asyncio.sleep(0.02)
        # fired from the templates it built as a standby (none was parsed again)
        assert {cid: engine.registrations.get(cid) for cid in range(1, 4)} == kept
    finally:
        stop.set()
        await running
