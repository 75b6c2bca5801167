"""Backfill (API.md, "Backfill") against real Redis and PostgreSQL: the due times of a
window, what already ran, each due time sent once even when backfills overlap, and once
with a scheduled fire of the same due time (the worker records one execution)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taskplane import messages
from taskplane.actors import CLI
from taskplane.db.models import TaskExecution
from taskplane.enums import SchedulerType
from taskplane.epoch import to_ms
from taskplane.errors import Conflict, InvalidInput
from taskplane.resources import Resources
from taskplane.scheduling import specs
from taskplane.scheduling.backfill import MAX_DUE_TIMES, checked, due_times
from taskplane.scheduling.engine import Engine
from taskplane.scheduling.service import SchedulerService
from taskplane.state.keys import Keys
from taskplane.worker import run_worker
from tests.scheduling.configs import MakeConfig
from tests.support import eventually, stream_entries

Sessions = async_sessionmaker[AsyncSession]
UTC0 = datetime(2026, 3, 29, 0, 0, tzinfo=UTC)


@dataclass
class FakeClock:
    at: datetime

    def now(self) -> datetime:
        return self.at


def cron(expr: str, tz: str = "UTC", **policy: str) -> specs.Spec:
    return specs.parse("cron", {"cron_expression": expr, "timezone": tz, **policy})


def at(hour: int, minute: int = 0, day: int = 29) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("spec", "start", "end", "anchor", "expected"),
    [
        # [start, end): a due time at start is in, one at end is out
        (cron("0 * * * *"), at(1), at(4), None, [at(1), at(2), at(3)]),
        # DST: 02:30 Berlin does not exist on 2026-03-29; shifted to 03:00 CEST (01:00 UTC)
        (cron("30 2 * * *", "Europe/Berlin"), at(0), at(2), None, [at(1)]),
        (
            cron("30 2 * * *", "Europe/Berlin", on_missing_time="skip"),
            at(0, day=28),
            at(2),
            None,
            [at(1, 30, day=28)],
        ),
        # an excluded date has no due time (the engine's rules, fire_times.occurrences)
        (
            specs.parse(
                "cron", {"cron_expression": "0 6 * * *", "exclude": {"dates": ["2026-03-28"]}}
            ),
            at(0, day=27),
            at(7),
            None,
            [at(6, day=27), at(6)],
        ),
        # an interval keeps its cadence (anchor), whatever the window's start
        (
            specs.parse("interval", {"minutes": 20}),
            at(1, 5),
            at(2),
            at(0, 10),
            [at(1, 10), at(1, 30), at(1, 50)],
        ),
        (
            specs.parse("interval", {"minutes": 20}),
            at(1, 5),
            at(1, 50),
            None,
            [at(1, 5), at(1, 25), at(1, 45)],
        ),
        # a date schedule: its one time, if in the window
        (
            specs.parse("date", {"run_date": "2026-03-29T01:00:00Z"}, is_stored=True),
            at(0),
            at(2),
            None,
            [at(1)],
        ),
        (
            specs.parse("date", {"run_date": "2026-03-29T01:00:00Z"}, is_stored=True),
            at(1, 1),
            at(2),
            None,
            [],
        ),
    ],
)
def test_due_times_of_a_window(
    spec: specs.Spec,
    start: datetime,
    end: datetime,
    anchor: datetime | None,
    expected: list[datetime],
) -> None:
    assert due_times(spec, start, end, anchor) == expected


def test_more_than_a_thousand_due_times_is_refused_naming_end() -> None:
    every_minute = cron("* * * * *")
    full = due_times(every_minute, UTC0, UTC0 + timedelta(minutes=MAX_DUE_TIMES))
    assert checked(full) == full and len(full) == 1000
    over = due_times(every_minute, UTC0, UTC0 + timedelta(days=30))
    assert len(over) == MAX_DUE_TIMES + 1  # never more than it takes to refuse
    with pytest.raises(InvalidInput) as refused:
        checked(over)
    assert refused.value.errors[0].loc == ("end",)


def hours_before(now: datetime) -> Callable[[int], datetime]:
    """Whole hours before ``now``'s hour (one base per test: no hour may roll over)."""
    top = now.replace(minute=0, second=0, microsecond=0)
    return lambda n: top - timedelta(hours=n)


async def queued(redis: Redis, keys: Keys) -> list[tuple[str, str]]:
    """(task id, trigger) of every message on the default queue, oldest first."""
    out = []
    for _, fields in await stream_entries(redis, keys.broker_stream("default")):
        message = messages.decode(fields["data"])
        out.append((message.task_id, str(message.labels["trigger"])))
    return out


async def test_a_dry_run_sends_and_records_nothing_then_a_backfill_sends_each_once(
    svc: SchedulerService, make_config: MakeConfig, sessions: Sessions, redis: Redis, keys: Keys
) -> None:
    hours_ago = hours_before(datetime.now(UTC))
    config = await make_config(SchedulerType.CRON, {"cron_expression": "0 * * * *"})
    start, end = hours_ago(5), hours_ago(1)  # 4 due times
    now = datetime.now(UTC)
    dry = await svc.backfiller.run(sessions, config, start, end, dry_run=True, now=now, actor=CLI)
    assert dry.due_times == [start + timedelta(hours=n) for n in range(4)]
    assert dry.sent == dry.due_times and dry.already_ran == []
    assert await queued(redis, keys) == []
    assert [e.event for e in (await svc.state.history(config.id))[0]] == ["created"]

    done = await svc.backfiller.run(
        sessions, config, start, end, dry_run=False, now=now, note="gap", actor=CLI
    )
    expected_ids = [f"{config.id}-{to_ms(d)}" for d in done.due_times]
    assert done.sent == done.due_times and done.task_ids == expected_ids
    assert await queued(redis, keys) == [(t, "backfill") for t in expected_ids]
    [event] = [e for e in (await svc.state.history(config.id))[0] if e.event == "backfill"]
    assert (event.note, event.details["sent"], event.details["due_times"]) == ("gap", 4, 4)

    # overlapping the first: only the new due times are sent
    again = await svc.backfiller.run(
        sessions, config, hours_ago(6), end, dry_run=False, now=now, actor=CLI
    )
    assert again.already_ran == done.due_times
    assert again.sent == [hours_ago(6)]
    assert len(await queued(redis, keys)) == 5


async def test_concurrent_overlapping_backfills_send_each_due_time_once(
    svc: SchedulerService, make_config: MakeConfig, sessions: Sessions, redis: Redis, keys: Keys
) -> None:
    hours_ago = hours_before(datetime.now(UTC))
    config = await make_config(SchedulerType.CRON, {"cron_expression": "*/10 * * * *"})
    now = datetime.now(UTC)
    windows = [
        (hours_ago(3), hours_ago(1)),
        (hours_ago(2), hours_ago(0)),
        (hours_ago(3), hours_ago(0)),
    ]
    reports = await asyncio.gather(
        *(
            svc.backfiller.run(sessions, config, s, e, dry_run=False, now=now, actor=CLI)
            for s, e in windows * 2
        )
    )
    sent = [d for r in reports for d in r.sent]
    assert len(sent) == len(set(sent)) == 18  # every due time of the 3 hours, once
    tasks = [t for t, _ in await queued(redis, keys)]
    assert len(tasks) == len(set(tasks)) == 18
    for report in reports:  # each call saw every due time as sent by it or already ran
        assert sorted(report.sent + report.already_ran) == report.due_times


async def test_a_due_time_that_fired_already_ran(
    svc: SchedulerService, make_config: MakeConfig, sessions: Sessions, redis: Redis, keys: Keys
) -> None:
    hours_ago = hours_before(datetime.now(UTC))
    config = await make_config(SchedulerType.CRON, {"cron_expression": "0 * * * *"})
    await svc.start(config, actor=CLI)
    due = hours_ago(2)
    await redis.zadd(keys.due, {str(config.id): to_ms(due)})  # as if it was due then
    engine = Engine(
        redis,
        keys,
        clock=FakeClock(due + timedelta(milliseconds=100)),
        state=svc.state,
        core=svc.core,
    )
    assert (await engine.tick()).sent == 1
    report = await svc.backfiller.run(
        sessions,
        config,
        due,
        due + timedelta(hours=1),
        dry_run=False,
        now=datetime.now(UTC),
        actor=CLI,
    )
    assert (report.already_ran, report.sent) == ([due], [])
    assert await queued(redis, keys) == [(f"{config.id}-{to_ms(due)}", "scheduled")]


async def test_a_backfill_and_a_scheduled_fire_of_one_due_time_run_once(
    svc: SchedulerService,
    make_config: MakeConfig,
    sessions: Sessions,
    resources: Resources,
    redis: Redis,
    keys: Keys,
) -> None:
    """The backfill sends first (nothing ran yet), then the scheduler fires the same due
    time: two messages with one task id; the worker runs and records it once."""
    hours_ago = hours_before(datetime.now(UTC))
    config = await make_config(SchedulerType.CRON, {"cron_expression": "0 * * * *"})
    await svc.start(config, actor=CLI)
    due = hours_ago(1)
    report = await svc.backfiller.run(
        sessions,
        config,
        due,
        due + timedelta(minutes=1),
        dry_run=False,
        now=datetime.now(UTC),
        actor=CLI,
    )
    assert report.sent == [due]
    await redis.zadd(keys.due, {str(config.id): to_ms(due)})
    engine = Engine(
        redis,
        keys,
        clock=FakeClock(due + timedelta(milliseconds=100)),
        state=svc.state,
        core=svc.core,
    )
    assert (await engine.tick()).sent == 1
    task_id = f"{config.id}-{to_ms(due)}"
    assert await queued(redis, keys) == [(task_id, "backfill"), (task_id, "scheduled")]

    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(resources.settings, ["default"], 2, stop=stop))

    async def drained() -> bool:
        # both messages taken off the queue (each run or skipped and acknowledged), and
        # every record that was made flushed to PostgreSQL
        return (
            await redis.xlen(keys.broker_stream("default")) == 0
            and await redis.xlen(keys.recorder_buffer) == 0
            and bool(await _records(sessions, task_id))
        )

    try:
        await eventually(drained, within=30)
    finally:
        stop.set()
        await worker
    [record] = await _records(sessions, task_id)
    assert record.trigger == "backfill"
    later = await svc.backfiller.run(
        sessions,
        config,
        due,
        due + timedelta(minutes=1),
        dry_run=True,
        now=datetime.now(UTC),
        actor=CLI,
    )
    assert (later.already_ran, later.sent) == ([due], [])


async def test_a_manual_config_has_nothing_to_backfill_and_the_window_is_checked(
    svc: SchedulerService, make_config: MakeConfig, sessions: Sessions
) -> None:
    hours_ago = hours_before(datetime.now(UTC))
    manual = await make_config(SchedulerType.MANUAL, {})
    now = datetime.now(UTC)
    with pytest.raises(Conflict):
        await svc.backfiller.run(
            sessions, manual, hours_ago(2), hours_ago(1), dry_run=True, now=now, actor=CLI
        )
    config = await make_config(SchedulerType.CRON, {"cron_expression": "0 * * * *"})
    for start, end, msg in (
        (hours_ago(1), now + timedelta(minutes=1), "must not be in the future"),
        (hours_ago(1), hours_ago(1), "must be after start"),
    ):
        with pytest.raises(InvalidInput) as refused:
            await svc.backfiller.run(
                sessions, config, start, end, dry_run=False, now=now, actor=CLI
            )
        assert (refused.value.errors[0].loc, refused.value.errors[0].msg) == (("end",), msg)
    assert [e.event for e in (await svc.state.history(config.id))[0]] == ["created"]


async def _records(sessions: Sessions, task_id: str) -> list[TaskExecution]:
    async with sessions() as session:
        return list(
            await session.scalars(select(TaskExecution).where(TaskExecution.task_id == task_id))
        )
