"""SchedulerCoreService against a real Redis."""

from __future__ import annotations

import asyncio
import contextvars
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from redis.asyncio import Redis

from taskplane.db.configs import ConfigRow
from taskplane.enums import SchedulerType
from taskplane.epoch import from_ms, to_ms
from taskplane.errors import NotFound
from taskplane.scheduling import spec_labels, specs
from taskplane.scheduling.core import RIDER, SchedulerCoreService
from taskplane.scheduling.registration import schedule_id
from taskplane.scheduling.registration_text import full_task
from taskplane.state.keys import Keys
from taskplane.tasks.registry import TaskRegistry
from tests.scheduling.registrations import Config
from tests.stored_registrations import stored_text


def Cfg(
    id: int,
    scheduler_type: SchedulerType,
    schedule_config: dict[str, Any],
    **fields: Any,
) -> ConfigRow:
    values: dict[str, Any] = {"parameters": {"message": "hi"}, "priority": 4, **fields}
    return Config(id, scheduler_type=scheduler_type, schedule_config=schedule_config, **values)


@pytest.fixture
def core(redis: Redis, keys: Keys, registry: TaskRegistry) -> SchedulerCoreService:
    return SchedulerCoreService(redis, keys, registry)


NOW = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)


def spec_of(cfg: ConfigRow) -> specs.Spec:
    return specs.parse(cfg.scheduler_type, cfg.schedule_config, now=NOW)


async def test_add_cron_writes_data_and_due_score(
    core: SchedulerCoreService, redis: Redis, keys: Keys
) -> None:
    cfg = Cfg(1, SchedulerType.CRON, {"cron_expression": "0 * * * *", "timezone": "Europe/Berlin"})
    reg = await core.add(cfg, spec_of(cfg), now=NOW)
    assert reg.schedule_id == "taskplane-config-1"
    assert reg.first_due == datetime(2030, 1, 1, 13, 0, tzinfo=UTC)
    raw = await stored_text(redis, keys, 1)
    assert raw is not None
    data = json.loads(raw)
    assert data["task_name"] == "taskplane:echo"
    assert data["kwargs"] == {"message": "hi"}
    assert data["cron"] == "0 * * * *" and data["cron_offset"] == "Europe/Berlin"
    assert data["labels"] == {
        "config_id": 1,
        "max_retries": 2,
        "priority": 4,
        "timeout_seconds": 30,
    }  # the rest is restored by the reader (registration_text)
    labels = full_task(data)["labels"]
    assert labels["config_id"] == 1 and labels["task_type"] == "echo"
    assert labels["trigger"] == "scheduled" and labels["queue"] == "default"
    assert (labels["timeout_seconds"], labels["max_retries"], labels["priority"]) == (30, 2, 4)
    assert spec_labels.from_labels(labels) == spec_of(cfg)
    assert await redis.zscore(keys.due, "1") == to_ms(reg.first_due)
    assert sorted(await redis.keys(keys.prefix + "*")) == sorted(  # nothing else: no list
        [keys.schedule(1), keys.registration_shapes, keys.registration_refs, keys.due]
    )
    assert await redis.hkeys(keys.schedule(1)) == ["r"]  # the state's fields are not core's
    assert await core.is_registered(1)
    assert await core.next_due(1) == reg.first_due


async def test_interval_and_date_due_times(
    core: SchedulerCoreService, redis: Redis, keys: Keys
) -> None:
    every = Cfg(2, SchedulerType.INTERVAL, {"minutes": 1})
    reg = await core.add(every, spec_of(every), now=NOW)
    assert reg.first_due == NOW + timedelta(minutes=1)
    once = Cfg(3, SchedulerType.DATE, {"run_date": "2030-02-01T08:30:00Z"})
    reg = await core.add(once, spec_of(once), now=NOW)
    assert reg.first_due == datetime(2030, 2, 1, 8, 30, tzinfo=UTC)
    assert await redis.zscore(keys.due, "3") == to_ms(reg.first_due)
    with pytest.raises(ValueError, match="no fire time"):
        await core.add(once, spec_of(once), now=datetime(2031, 1, 1, tzinfo=UTC))


async def test_replace_switches_text_and_score_in_one_step(
    core: SchedulerCoreService, redis: Redis, keys: Keys
) -> None:
    cfg = Cfg(4, SchedulerType.CRON, {"cron_expression": "0 0 * * *"})
    await core.add(cfg, spec_of(cfg), now=NOW)
    cfg = cfg._replace(scheduler_type=SchedulerType.INTERVAL, schedule_config={"seconds": 10})
    reg = await core.replace(cfg, spec_of(cfg), now=NOW)
    assert reg.first_due == NOW + timedelta(seconds=10)
    stored = await core.get(4)
    assert stored is not None and stored.interval == 10 and stored.cron is None
    score = await redis.zscore(keys.due, "4")
    assert score is not None
    assert from_ms(score) == reg.first_due
    await core.replace(cfg, spec_of(cfg), now=NOW)  # idempotent: never a doubled entry
    assert await redis.zcard(keys.due) == 1


async def test_replace_keeps_a_fire_that_is_due_and_not_yet_sent(
    core: SchedulerCoreService, redis: Redis, keys: Keys
) -> None:
    cfg = Cfg(5, SchedulerType.CRON, {"cron_expression": "* * * * *"})
    overdue = NOW - timedelta(seconds=1)
    await core.add(cfg, spec_of(cfg), due_at=overdue, now=NOW)
    await core.replace(cfg, spec_of(cfg), now=NOW)
    assert await core.next_due(5) == overdue


async def test_concurrent_replaces_leave_exactly_one_entry(
    core: SchedulerCoreService, redis: Redis, keys: Keys
) -> None:
    cfgs = [
        Cfg(6, SchedulerType.CRON, {"cron_expression": "0 * * * *"}),
        Cfg(6, SchedulerType.INTERVAL, {"seconds": 5}),
        Cfg(6, SchedulerType.DATE, {"run_date": "2030-03-01T00:00:00Z"}),
    ]
    await asyncio.gather(*(core.replace(c, spec_of(c), now=NOW) for c in cfgs * 10))
    stored = await core.get(6)
    assert stored is not None
    assert sorted(await redis.keys(keys.prefix + "*")) == sorted(
        [keys.schedule(6), keys.registration_shapes, keys.registration_refs, keys.due]
    )
    assert await redis.zcard(keys.due) == 1
    # one shape held once: every replaced one went with its last reference
    value = await redis.hget(keys.schedule(6), "r")
    assert value is not None
    assert await redis.hgetall(keys.registration_refs) == {str(value)[:12]: "1"}
    assert await redis.hlen(keys.registration_shapes) == 1


async def test_writes_read_nothing_first(
    core: SchedulerCoreService, redis: Redis, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write is one script and no read before it (the source lists that needed the stored
    text read first, to leave the right list, are gone): add, replace and remove never call
    ``raw_many``."""

    async def no_read(ids: Any) -> list[Any]:
        raise AssertionError("a write read the stored registrations")

    monkeypatch.setattr(core, "raw_many", no_read)
    cron = Cfg(8, SchedulerType.CRON, {"cron_expression": "0 * * * *"})
    interval = Cfg(8, SchedulerType.INTERVAL, {"seconds": 5})
    await core.add(cron, spec_of(cron), now=NOW)
    await core.replace(interval, spec_of(interval), now=NOW)
    monkeypatch.undo()  # the writes are done: reading them back may read
    stored = await core.get(8)
    assert stored is not None and stored.interval == 5
    monkeypatch.setattr(core, "raw_many", no_read)
    assert await core.remove(8) is True
    assert await redis.exists(keys.schedule(8), keys.registration_shapes) == 0


async def test_earlier_layouts_keys_are_dropped_once(
    core: SchedulerCoreService, redis: Redis, keys: Keys
) -> None:
    """The keys earlier layouts kept (a registration key each, the source lists) go at the
    first reconcile; then the layout is marked and not looked for again. Registrations and
    other keys stay."""
    cfg = Cfg(9, SchedulerType.INTERVAL, {"seconds": 5})
    await core.add(cfg, spec_of(cfg), now=NOW)
    kept = await core.get_raw(9)
    # an earlier layout's keys: a text for 9 (registered here: this one stays), one for 10
    # (moved here, its due score as it was), an unreadable one for 11, the lists
    older = Cfg(10, SchedulerType.CRON, {"cron_expression": "0 * * * *"})
    older_text = core.encode(older, spec_of(older))
    await redis.set(keys.source_data(schedule_id(9)), '{"task_name":"taskplane:echo"}')
    await redis.set(keys.source_data(schedule_id(10)), older_text)
    await redis.zadd(keys.due, {"10": 123})
    await redis.set(keys.source_data(schedule_id(11)), "{not json")
    await redis.rpush(keys.source_interval, schedule_id(9))
    await redis.rpush(keys.source_cron, schedule_id(4))
    await redis.rpush(keys.source_time("2030-03-02T00:00"), schedule_id(5))
    assert await core.drop_legacy() == 6
    assert sorted(await redis.keys(keys.prefix + "*")) == sorted(
        [
            keys.schedule(9),
            keys.schedule(10),
            keys.registration_shapes,
            keys.registration_refs,
            keys.due,
            keys.layout,
        ]
    )
    assert await core.get_raw(9) == kept
    assert await core.get(10) == core.build(older, spec_of(older))
    assert await redis.zscore(keys.due, "10") == 123
    assert not await core.is_registered(11)
    await redis.rpush(keys.source_cron, schedule_id(4))  # written by an older process now
    assert await core.drop_legacy() == 0  # the layout is marked: not looked for
    assert await redis.exists(keys.source_cron) == 1


async def test_remove_clears_everything_and_is_idempotent(
    core: SchedulerCoreService, redis: Redis, keys: Keys
) -> None:
    once = Cfg(7, SchedulerType.DATE, {"run_date": "2030-02-01T08:30:00Z"})
    await core.add(once, spec_of(once), now=NOW)
    assert await core.remove(7) is True
    assert await core.remove(7) is False
    assert await redis.exists(keys.schedule(7), keys.registration_shapes) == 0
    assert await redis.hlen(keys.registration_refs) == 0
    assert await redis.zscore(keys.due, "7") is None
    assert not await core.is_registered(7)


async def test_many_reads_and_registered_ids(core: SchedulerCoreService) -> None:
    for cid in (1, 2):
        cfg = Cfg(cid, SchedulerType.INTERVAL, {"seconds": cid})
        await core.add(cfg, spec_of(cfg), now=NOW)
    assert await core.registered_many([1, 2, 3]) == {1: True, 2: True, 3: False}
    dues = await core.next_due_many([1, 3])
    assert dues == {1: NOW + timedelta(seconds=1), 3: None}
    assert await core.registered_ids() == {1, 2}
    spec = await core.get_spec(2)
    assert spec is not None and spec.interval_seconds == 2


async def test_unknown_task_type_and_manual_are_refused(core: SchedulerCoreService) -> None:
    cfg = Cfg(8, SchedulerType.INTERVAL, {"seconds": 5}, task_type="nope")
    with pytest.raises(NotFound):
        await core.add(cfg, spec_of(cfg), now=NOW)
    manual = Cfg(9, SchedulerType.MANUAL, {})
    with pytest.raises(ValueError, match="manual"):
        await core.add(manual, spec_of(manual), due_at=NOW, now=NOW)
    assert not await core.is_registered(8)


class _Rider:
    def __init__(self, command: tuple[str | int, ...]) -> None:
        self._command = command
        self.answers: list[Any] = []

    def command(self) -> tuple[str | int, ...]:
        return self._command

    def answer(self, reply: Any) -> None:
        self.answers.append(reply)


async def test_due_reads_and_the_task_s_rider_reads_with_the_first(
    core: SchedulerCoreService, redis: Redis, keys: Keys
) -> None:
    """``due_until`` gives the due entries (a non-numeric member is counted as read and left
    out); the read of the task's ``RIDER`` goes with a read at offset 0 only, and in another
    task (another scheduler loop of the process) nothing rides."""
    await redis.zadd(keys.due, {"1": 1000, "2": 2000, "junk": 2500, "3": 3000, "4": 9000})
    until = from_ms(3000)
    rider = _Rider(("ECHO", "riding"))

    async def other_task() -> list[Any]:
        await core.due_until(until, 10)
        return rider.answers[:]

    token = RIDER.set(rider)
    try:
        first = await core.due_until(until, 3)
        assert rider.answers == ["riding"]
        ahead = await core.due_until(until, 3, offset=3)
        assert rider.answers == ["riding"]  # a read ahead carries none
        assert await asyncio.create_task(other_task(), context=contextvars.Context()) == ["riding"]
    finally:
        RIDER.reset(token)
    assert (first.read, first.entries) == (3, [(1, 1000.0), (2, 2000.0)])
    assert (ahead.read, ahead.entries) == (1, [(3, 3000.0)])
    alone = await core.due_until(until, 10)
    assert (alone.read, alone.entries) == (4, [(1, 1000.0), (2, 2000.0), (3, 3000.0)])
    assert rider.answers == ["riding"]
