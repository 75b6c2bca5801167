"""Pause until (API.md, "Pause until") against real Redis and PostgreSQL: the pause ends by
itself once, however many schedulers try; a resume, a stop or a newer pause cancels it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taskplane.actors import CLI
from taskplane.db import configs
from taskplane.db.configs import ConfigRow
from taskplane.enums import Action, SchedulerType, ScheduleStatus
from taskplane.epoch import to_ms
from taskplane.errors import InvalidInput
from taskplane.scheduling.engine import Engine
from taskplane.scheduling.pause_ends import PauseEnds
from taskplane.scheduling.service import SchedulerService
from taskplane.scheduling.tick import TickResult
from taskplane.state.heartbeats import SchedulerPresence
from taskplane.state.history import format_instant
from taskplane.state.keys import Keys
from tests.scheduling.configs import MakeConfig
from tests.support import eventually

Sessions = async_sessionmaker[AsyncSession]


@dataclass
class FakeClock:
    at: datetime

    def now(self) -> datetime:
        return self.at


def in_an_hour() -> datetime:
    return (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)


async def resumed_events(svc: SchedulerService, cid: int) -> list[dict[str, object]]:
    """The details of each ``resumed`` event, with who caused it (``actor``)."""
    events, _ = await svc.state.history(cid, limit=1000)
    return [{**e.details, "actor": e.actor} for e in events if e.event == "resumed"]


async def paused_config(make_config: MakeConfig, svc: SchedulerService, until: datetime) -> int:
    config = await make_config(SchedulerType.INTERVAL, {"hours": 2, "run_immediately": False})
    await svc.start(config, actor=CLI)
    result = await svc.pause(config, "deploy freeze", until, actor=CLI)
    assert result.status is ScheduleStatus.PAUSED
    assert result.message == f"paused until {until.isoformat(timespec='microseconds')}"
    return config.id


async def test_pause_until_is_shown_and_ends_by_itself_once_for_two_schedulers(
    svc: SchedulerService, make_config: MakeConfig, sessions: Sessions, redis: Redis, keys: Keys
) -> None:
    until = in_an_hour()
    cid = await paused_config(make_config, svc, until)
    [config] = (await svc.infos([await _row(sessions, cid)])).values()
    assert config.paused_until == until
    events, _ = await svc.state.history(cid, limit=1)
    assert events[0].event == "paused" and events[0].details == {
        "paused_until": until.isoformat(timespec="microseconds")
    }

    clock = FakeClock(until - timedelta(seconds=1))
    first = PauseEnds(svc, sessions, clock=clock)
    second = PauseEnds(svc, sessions, clock=clock)  # another scheduler on the same Redis
    assert await first.end_due() == 0  # not yet
    assert (await svc.state.get(cid)).status is ScheduleStatus.PAUSED  # type: ignore[union-attr]

    clock.at = until + timedelta(milliseconds=1)
    ended = await asyncio.gather(first.end_due(), second.end_due(), first.end_due())
    assert sum(ended) == 1
    state = await svc.state.get(cid)
    assert state is not None and state.status is ScheduleStatus.ACTIVE
    assert state.paused_until is None
    [details] = await resumed_events(svc, cid)
    assert details["paused_until"] == until.isoformat(timespec="microseconds")
    assert details["reason"] == "pause ended"
    assert details["actor"] == "scheduler"
    assert await svc.core.is_registered(cid)
    assert await redis.zcard(keys.paused_until) == 0
    assert await first.end_due() == 0  # nothing left, nothing twice


async def test_two_scheduler_loops_on_a_fake_clock_resume_once(
    svc: SchedulerService, make_config: MakeConfig, sessions: Sessions, redis: Redis, keys: Keys
) -> None:
    until = in_an_hour()
    cid = await paused_config(make_config, svc, until)
    clock = FakeClock(until + timedelta(seconds=1))
    stop = asyncio.Event()
    loops = []
    for name in ("a", "b"):
        presence = SchedulerPresence(redis, keys, instance_id=name, lease_ms=2000)
        engine = Engine(
            redis, keys, presence=presence, clock=clock, tick_ms=10, state=svc.state, core=svc.core
        )
        ends = PauseEnds(svc, sessions, clock=clock)
        loops.append(asyncio.create_task(engine.run(stop, ends)))

    async def resumed() -> bool:
        return (await svc.state.status(cid)) is ScheduleStatus.ACTIVE

    try:
        await eventually(resumed, within=10)
        await asyncio.sleep(0.3)  # many more ticks of both loops: none may resume it again
    finally:
        stop.set()
        await asyncio.gather(*loops)
    assert len(await resumed_events(svc, cid)) == 1


async def test_the_loop_reads_the_pauses_only_when_its_due_read_found_one_due(
    svc: SchedulerService, make_config: MakeConfig, sessions: Sessions, redis: Redis, keys: Keys
) -> None:
    """Whether a pause is due rides with each tick's due read: while none is, the loop's
    pokes start no job (no read of their own); once the clock passes the end, the next
    tick ends it."""
    until = in_an_hour()
    cid = await paused_config(make_config, svc, until)
    clock = FakeClock(until - timedelta(seconds=1))
    presence = SchedulerPresence(redis, keys, instance_id="a", lease_ms=2000)
    engine = Engine(
        redis, keys, presence=presence, clock=clock, tick_ms=5, state=svc.state, core=svc.core
    )
    ends = PauseEnds(svc, sessions, clock=clock)
    jobs: list[datetime] = []
    end_due = ends.end_due

    async def counted() -> int:
        jobs.append(clock.at)
        return await end_due()

    ends.end_due = counted  # type: ignore[method-assign]
    ticks = 0
    tick = engine.tick

    async def counted_tick() -> TickResult:
        nonlocal ticks
        ticks += 1
        return await tick()

    engine.tick = counted_tick  # type: ignore[method-assign]

    def ticked(count: int) -> Callable[[], Awaitable[bool]]:
        async def check() -> bool:
            return ticks >= count

        return check

    stop = asyncio.Event()
    running = asyncio.create_task(engine.run(stop, ends))
    try:
        await eventually(ticked(20), within=10)
        assert jobs == []  # leading and ticking, none due: no job, no read of its own
        assert (await svc.state.status(cid)) is ScheduleStatus.PAUSED
        clock.at = until + timedelta(milliseconds=1)

        async def resumed() -> bool:
            return (await svc.state.status(cid)) is ScheduleStatus.ACTIVE

        await eventually(resumed, within=10)
        await eventually(ticked(ticks + 20), within=10)
    finally:
        stop.set()
        await running
    assert len(jobs) == 1 and len(await resumed_events(svc, cid)) == 1  # none due after it
    ends.answer([])  # a ride that found none due
    ends.poke()  # no job
    await ends.drain()
    assert len(jobs) == 1
    ends.poke()  # a poke without a fresh ride (no loop): a job, as before
    await ends.drain()
    assert len(jobs) == 2


@pytest.mark.parametrize("action", [Action.RESUME, Action.STOP])
async def test_a_resume_or_stop_before_then_cancels_it(
    svc: SchedulerService,
    make_config: MakeConfig,
    sessions: Sessions,
    redis: Redis,
    keys: Keys,
    action: Action,
) -> None:
    until = in_an_hour()
    cid = await paused_config(make_config, svc, until)
    row = await _row(sessions, cid)
    assert await redis.zscore(keys.paused_until, cid) == to_ms(until)
    await svc.act(action, row, actor=CLI)
    assert await redis.zscore(keys.paused_until, cid) is None  # in the same script
    state = await svc.state.get(cid)
    assert state is not None and state.paused_until is None
    if action is Action.RESUME:  # paused again, without until: it must stay paused
        await svc.pause(row, actor=CLI)
    before = (await svc.state.get(cid)).status  # type: ignore[union-attr]
    ends = PauseEnds(svc, sessions, clock=FakeClock(until + timedelta(seconds=1)))
    assert await ends.end_due() == 0
    assert (await svc.state.get(cid)).status is before  # type: ignore[union-attr]
    assert len(await resumed_events(svc, cid)) == (1 if action is Action.RESUME else 0)


async def test_a_stale_timer_entry_does_nothing_and_is_dropped(
    svc: SchedulerService, make_config: MakeConfig, sessions: Sessions, redis: Redis, keys: Keys
) -> None:
    """A timer entry the stored pause no longer matches (here the hash is made to hold a
    later end, as a newer pause would) must not end the pause: the guard compares them."""
    until = in_an_hour()
    cid = await paused_config(make_config, svc, until)
    later = format_instant(until + timedelta(hours=1))
    await redis.hset(keys.schedule(cid), "paused_until", later)
    ends = PauseEnds(svc, sessions, clock=FakeClock(until + timedelta(seconds=1)))
    assert await ends.end_due() == 0
    assert (await svc.state.status(cid)) is ScheduleStatus.PAUSED
    assert await resumed_events(svc, cid) == []
    assert await redis.zscore(keys.paused_until, cid) is None  # dropped


async def test_a_timer_entry_of_a_deleted_config_is_dropped(
    svc: SchedulerService, make_config: MakeConfig, sessions: Sessions, redis: Redis, keys: Keys
) -> None:
    until = in_an_hour()
    cid = await paused_config(make_config, svc, until)
    async with sessions() as session, session.begin():
        await configs.delete(session, cid)  # the row only: its state is left (an orphan)
    ends = PauseEnds(svc, sessions, clock=FakeClock(until + timedelta(seconds=1)))
    assert await ends.end_due() == 0
    assert await redis.zscore(keys.paused_until, cid) is None


async def test_bulk_pause_with_until_sets_each_and_a_stop_cancels_one(
    svc: SchedulerService, make_config: MakeConfig, sessions: Sessions, redis: Redis, keys: Keys
) -> None:
    until = in_an_hour()
    rows = [await make_config(SchedulerType.INTERVAL, {"hours": 3}) for _ in range(3)]
    await svc.start_many(rows, actor=CLI)
    report = await svc.act_many(
        Action.PAUSE, [r.id for r in rows], {r.id: r for r in rows}, "freeze", until, actor=CLI
    )
    assert [r.status for r in report.results] == [ScheduleStatus.PAUSED] * 3
    assert {r.message for r in report.results} == {
        f"paused until {until.isoformat(timespec='microseconds')}"
    }
    for row in rows:
        state = await svc.state.get(row.id)
        assert state is not None and state.paused_until == until
    stopped = await svc.act_many(Action.STOP, [rows[0].id], {rows[0].id: rows[0]}, actor=CLI)
    assert stopped.results[0].status is ScheduleStatus.INACTIVE
    assert await redis.zscore(keys.paused_until, rows[0].id) is None
    ends = PauseEnds(svc, sessions, clock=FakeClock(until + timedelta(seconds=1)))
    assert await ends.end_due() == 2
    assert [await svc.state.status(r.id) for r in rows] == [
        ScheduleStatus.INACTIVE,
        ScheduleStatus.ACTIVE,
        ScheduleStatus.ACTIVE,
    ]


@pytest.mark.parametrize(
    ("delta", "msg"),
    [
        (timedelta(seconds=-1), "must be in the future"),
        (timedelta(days=367), "must be at most a year ahead"),
    ],
)
async def test_an_until_in_the_past_or_past_a_year_is_refused_and_changes_nothing(
    svc: SchedulerService, make_config: MakeConfig, delta: timedelta, msg: str
) -> None:
    config = await make_config(SchedulerType.INTERVAL, {"hours": 2})
    await svc.start(config, actor=CLI)
    with pytest.raises(InvalidInput) as single:
        await svc.pause(config, until=datetime.now(UTC) + delta, actor=CLI)
    with pytest.raises(InvalidInput) as many:
        await svc.act_many(
            Action.PAUSE,
            [config.id],
            {config.id: config},
            None,
            datetime.now(UTC) + delta,
            actor=CLI,
        )
    for refused in (single.value, many.value):
        [error] = refused.errors
        assert (error.loc, error.msg) == (("until",), msg)
    assert (await svc.state.status(config.id)) is ScheduleStatus.ACTIVE


async def test_until_on_another_action_is_refused(
    svc: SchedulerService, make_config: MakeConfig
) -> None:
    config = await make_config(SchedulerType.INTERVAL, {"hours": 2})
    with pytest.raises(InvalidInput) as refused:
        await svc.act(Action.START, config, until=in_an_hour(), actor=CLI)
    assert refused.value.errors[0].loc == ("until",)
    assert (await svc.state.status(config.id)) is ScheduleStatus.INACTIVE


async def _row(sessions: Sessions, cid: int) -> ConfigRow:
    async with sessions() as session:
        return await configs.get(session, cid)
