"""The engine against real Redis on a fake clock: CAS fires, policies, fencing, O(due)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from redis.asyncio import Redis

from taskplane import messages
from taskplane.enums import SchedulerType
from taskplane.epoch import to_ms
from taskplane.scheduling import fire_times, specs
from taskplane.scheduling.core import SchedulerCoreService
from taskplane.scheduling.engine import Engine
from taskplane.state.heartbeats import SchedulerPresence
from taskplane.state.keys import Keys
from tests.scheduling.registrations import Config, Registry, interval, register
from tests.stored_events import stored_event
from tests.stored_registrations import put_text
from tests.support import stream_entries

T0 = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)


@dataclass
class FakeClock:
    at: datetime = T0

    def now(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


@dataclass
class RecordingCompleter:
    completed: list[int] = field(default_factory=list)

    async def complete(self, config_id: int) -> None:
        self.completed.append(config_id)


async def sent(redis: Redis, keys: Keys, queue: str = "default") -> list[dict[str, Any]]:
    entries = await stream_entries(redis, keys.broker_stream(queue))
    return [messages.decode(fields["data"]).model_dump(mode="json") for _, fields in entries]


async def history(redis: Redis, keys: Keys, config_id: int) -> list[dict[str, Any]]:
    return [stored_event(e) for e in await redis.lrange(keys.history(config_id), 0, -1)]


def make_engine(redis: Redis, keys: Keys, clock: FakeClock, **kw: Any) -> Engine:
    return Engine(redis, keys, clock=clock, history_max=50, **kw)


async def test_due_schedule_is_sent_once_with_the_contract_message(
    redis: Redis, keys: Keys
) -> None:
    clock = FakeClock()
    engine = make_engine(redis, keys, clock)
    await register(redis, keys, 7, interval(10), T0)
    clock.advance(0.2)
    result = await engine.tick()
    assert (result.read, result.sent) == (1, 1)
    assert (await engine.tick()).sent == 0  # same instant again: nothing
    [msg] = await sent(redis, keys)
    assert msg["task_id"] == f"7-{to_ms(T0)}"
    assert msg["task_name"] == "taskplane:echo"
    assert msg["kwargs"] == {"message": "hi 7"}
    labels = msg["labels"]
    assert labels["trigger"] == "scheduled"
    assert labels["due_at"] == T0.isoformat()
    assert (labels["config_id"], labels["max_retries"], labels["priority"]) == (7, 2, 3)
    assert labels["timeout_seconds"] == 30
    assert await redis.zscore(keys.due, "7") == to_ms(T0 + timedelta(seconds=10))
    [event] = await history(redis, keys, 7)
    assert event["event"] == "fired"
    assert event["details"]["due_at"] == T0.isoformat()
    assert event["details"]["trigger"] == "scheduled"


async def test_interval_cadence_is_anchored_on_due_times(redis: Redis, keys: Keys) -> None:
    clock = FakeClock()
    engine = make_engine(redis, keys, clock)
    await register(redis, keys, 1, interval(5), T0)
    for _ in range(40):  # 20 s in 0.5 s steps, each tick a little late
        clock.advance(0.5)
        await engine.tick()
    dues = [m["labels"]["due_at"] for m in await sent(redis, keys)]
    assert dues == [(T0 + timedelta(seconds=5 * k)).isoformat() for k in range(5)]


async def test_tick_reads_only_due_entries(redis: Redis, keys: Keys) -> None:
    clock = FakeClock()
    engine = make_engine(redis, keys, clock)
    for cid in range(1, 301):  # registered but not due
        await register(redis, keys, cid, interval(3600), T0 + timedelta(minutes=10))
    for cid in range(1000, 1005):
        await register(redis, keys, cid, interval(60), T0)
    result = await engine.tick()
    assert (result.read, result.sent) == (5, 5)


async def test_large_backlog_is_sent_in_batches(redis: Redis, keys: Keys) -> None:
    clock = FakeClock()
    engine = make_engine(redis, keys, clock, batch_size=50)
    async with redis.pipeline(transaction=False) as pipe:
        for cid in range(1, 181):
            pipe.zadd(keys.due, {str(cid): to_ms(T0)})
        await pipe.execute()
    for cid in range(1, 181):
        await register(redis, keys, cid, interval(60), T0)
    result = await engine.tick()
    assert (result.read, result.sent) == (180, 180)
    assert len({m["task_id"] for m in await sent(redis, keys)}) == 180


async def test_pause_between_read_and_fire_wins(redis: Redis, keys: Keys) -> None:
    """A schedule removed (or replaced) after the tick read it is not fired: the CAS fails."""

    class RacingEngine(Engine):
        async def load(self, due: Any) -> Any:
            await redis.zrem(keys.due, "1")  # paused: core removed it meanwhile
            await redis.zadd(keys.due, {"2": to_ms(T0 + timedelta(seconds=99))})  # replaced
            return await super().load(due)

    clock = FakeClock()
    engine = RacingEngine(redis, keys, clock=clock)
    await register(redis, keys, 1, interval(10), T0)
    await register(redis, keys, 2, interval(10), T0)
    await register(redis, keys, 3, interval(10), T0)
    result = await engine.tick()
    assert (result.sent, result.lost) == (1, 2)
    assert [m["labels"]["config_id"] for m in await sent(redis, keys)] == [3]
    assert await redis.zscore(keys.due, "1") is None
    assert await redis.zscore(keys.due, "2") == to_ms(T0 + timedelta(seconds=99))


async def test_two_engines_racing_send_each_fire_once(redis: Redis, keys: Keys) -> None:
    clock = FakeClock()
    a = make_engine(redis, keys, clock)
    b = make_engine(redis, keys, clock)
    for cid in range(1, 51):
        await register(redis, keys, cid, interval(1), T0)
    for _ in range(10):
        clock.advance(0.5)
        await asyncio.gather(a.tick(), b.tick(), a.tick())
    ids = [m["task_id"] for m in await sent(redis, keys)]
    assert len(ids) == len(set(ids)) == 50 * 6  # due at T0, T0+1 .. T0+5


async def test_a_deposed_leader_cannot_send(redis: Redis, keys: Keys) -> None:
    clock = FakeClock()
    presence = SchedulerPresence(redis, keys, instance_id="old")
    engine = make_engine(redis, keys, clock, presence=presence)
    assert await presence.hold_lease()
    await redis.set(keys.scheduler_leader, "new")  # another instance took the lease
    await register(redis, keys, 1, interval(10), T0)
    result = await engine.tick()
    assert result.is_leader is False
    assert presence.is_leader is False
    assert await sent(redis, keys) == []
    assert await redis.zscore(keys.due, "1") == to_ms(T0)  # left for the real leader


async def test_overlap_skip_skips_while_running_and_records_it(redis: Redis, keys: Keys) -> None:
    clock = FakeClock()
    engine = make_engine(redis, keys, clock)
    await register(redis, keys, 1, interval(10, overlap="skip"), T0)
    await register(redis, keys, 2, interval(10), T0)  # overlap allow (default)
    await redis.sadd(keys.running(1), "1-previous")
    await redis.sadd(keys.running(2), "2-previous")
    result = await engine.tick()
    assert (result.sent, result.skipped) == (1, 1)
    assert [m["labels"]["config_id"] for m in await sent(redis, keys)] == [2]
    [event] = await history(redis, keys, 1)
    assert event["event"] == "skipped"
    assert event["details"]["reason"] == "overlap"
    assert event["details"]["due_at"] == T0.isoformat()
    # the cadence goes on; once the run is over the next fire is sent
    assert await redis.zscore(keys.due, "1") == to_ms(T0 + timedelta(seconds=10))
    await redis.srem(keys.running(1), "1-previous")
    clock.advance(10)
    await engine.tick()
    assert [m["task_id"] for m in await sent(redis, keys) if m["labels"]["config_id"] == 1] == [
        f"1-{to_ms(T0 + timedelta(seconds=10))}"
    ]


async def test_misfire_once_sends_one_catch_up_fire_within_grace(redis: Redis, keys: Keys) -> None:
    clock = FakeClock()
    engine = make_engine(redis, keys, clock)
    await register(redis, keys, 1, interval(10), T0)  # once, grace 60
    await register(redis, keys, 2, interval(100, misfire_grace_seconds=30), T0)
    clock.advance(45)  # the scheduler was down 45 s
    await engine.tick()
    msgs = await sent(redis, keys)
    assert [(m["labels"]["config_id"], m["labels"]["due_at"]) for m in msgs] == [
        (1, (T0 + timedelta(seconds=40)).isoformat())
    ]
    assert await redis.zscore(keys.due, "1") == to_ms(T0 + timedelta(seconds=50))
    assert await redis.zscore(keys.due, "2") == to_ms(T0 + timedelta(seconds=100))
    events1 = await history(redis, keys, 1)
    assert [e["event"] for e in events1] == ["fired", "skipped"]
    assert events1[1]["details"] == {
        "reason": "misfire",
        "missed": 4,
        "due_at": T0.isoformat(),
        "policy": "once",
    }
    [event2] = await history(redis, keys, 2)
    assert (event2["event"], event2["details"]["missed"]) == ("skipped", 1)


async def test_misfire_skip_sends_nothing_late_and_keeps_cadence(redis: Redis, keys: Keys) -> None:
    clock = FakeClock()
    engine = make_engine(redis, keys, clock)
    await register(redis, keys, 1, interval(10, misfire="skip"), T0)
    clock.advance(25)
    await engine.tick()
    assert await sent(redis, keys) == []
    assert await redis.zscore(keys.due, "1") == to_ms(T0 + timedelta(seconds=30))
    clock.advance(5.1)
    await engine.tick()
    assert [m["labels"]["due_at"] for m in await sent(redis, keys)] == [
        (T0 + timedelta(seconds=30)).isoformat()
    ]


async def test_date_schedule_fires_once_and_is_completed(redis: Redis, keys: Keys) -> None:
    clock = FakeClock()
    completer = RecordingCompleter()
    engine = make_engine(redis, keys, clock, completer=completer)
    spec = specs.Spec(kind=SchedulerType.DATE, run_at=T0 + timedelta(seconds=3))
    await register(redis, keys, 5, spec, T0 + timedelta(seconds=3))
    await engine.tick()
    assert await sent(redis, keys) == []
    clock.advance(3.1)
    await engine.tick()
    clock.advance(60)
    await engine.tick()
    await engine.drain()
    [msg] = await sent(redis, keys)
    assert msg["task_id"] == f"5-{to_ms(T0 + timedelta(seconds=3))}"
    assert await redis.zscore(keys.due, "5") is None
    assert completer.completed == [5]


async def test_cron_in_a_timezone_fires_at_the_right_instants_across_dst(
    redis: Redis, keys: Keys
) -> None:
    # Europe/Berlin springs forward on 2026-03-29 at 02:00 CET; "0,30 * * * *" local.
    start = datetime(2026, 3, 29, 0, 10, tzinfo=UTC)  # 01:10 CET
    clock = FakeClock(start)
    engine = make_engine(redis, keys, clock)
    spec = specs.Spec(kind=SchedulerType.CRON, cron="0,30 * * * *", timezone="Europe/Berlin")
    first = fire_times.next_after(spec, start)
    assert first is not None
    await register(redis, keys, 1, spec, first)
    for _ in range(12 * 10):  # two hours in 60 s steps
        clock.advance(60)
        await engine.tick()
    dues = [m["labels"]["due_at"] for m in await sent(redis, keys)]
    assert dues == [
        "2026-03-29T00:30:00+00:00",  # 01:30 CET
        "2026-03-29T01:00:00+00:00",  # 03:00 CEST (02:00 CET does not exist)
        "2026-03-29T01:30:00+00:00",  # 03:30 CEST
        "2026-03-29T02:00:00+00:00",  # 04:00 CEST
    ]


async def test_unreadable_schedule_is_dropped_not_retried_forever(redis: Redis, keys: Keys) -> None:
    clock = FakeClock()
    engine = make_engine(redis, keys, clock)
    await put_text(redis, keys, 9, "{not json")
    await redis.zadd(keys.due, {"9": to_ms(T0)})
    await register(redis, keys, 10, interval(10), T0)
    result = await engine.tick()
    assert result.sent == 1
    assert await redis.zscore(keys.due, "9") is None
    [event] = await history(redis, keys, 9)
    assert event["event"] == "error"


async def test_fires_and_skips_are_counted_and_lag_observed(redis: Redis, keys: Keys) -> None:
    from prometheus_client import REGISTRY

    def sample(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    sent_before = sample("taskplane_fires_sent_total", trigger="scheduled")
    overlap_before = sample("taskplane_fires_skipped_total", reason="overlap")
    lag_before = sample("taskplane_dispatch_lag_seconds_count")
    clock = FakeClock()
    engine = make_engine(redis, keys, clock)
    await register(redis, keys, 1, interval(10), T0)
    await register(redis, keys, 2, interval(10, overlap="skip"), T0)
    await redis.sadd(keys.running(2), "x")
    clock.advance(0.25)
    await engine.tick()
    assert sample("taskplane_fires_sent_total", trigger="scheduled") == sent_before + 1
    assert sample("taskplane_fires_skipped_total", reason="overlap") == overlap_before + 1
    assert sample("taskplane_dispatch_lag_seconds_count") == lag_before + 1


async def test_a_replaced_schedule_fires_on_its_new_cadence_only(redis: Redis, keys: Keys) -> None:
    clock = FakeClock()
    engine = make_engine(redis, keys, clock)
    await register(redis, keys, 1, interval(10), T0)
    await engine.tick()
    clock.advance(1)
    core = SchedulerCoreService(redis, keys, Registry())
    await core.replace(Config(id=1, parameters={"v": 2}), interval(3), now=clock.now())
    for _ in range(24):  # to T0 + 13
        clock.advance(0.5)
        await engine.tick()
    msgs = await sent(redis, keys)
    assert [m["labels"]["due_at"] for m in msgs] == [
        T0.isoformat(),
        (T0 + timedelta(seconds=4)).isoformat(),
        (T0 + timedelta(seconds=7)).isoformat(),
        (T0 + timedelta(seconds=10)).isoformat(),
        (T0 + timedelta(seconds=13)).isoformat(),
    ]
    assert [m["kwargs"] for m in msgs[1:]] == [{"v": 2}] * 4


async def test_a_failure_planning_the_next_batch_still_ends_the_one_in_flight(
    redis: Redis, keys: Keys
) -> None:
    """The next batch is planned while the current script runs; if planning fails, the
    current batch is still awaited (sent once, its connection back in the pool: the
    fixture checks it) and the next tick fires the rest."""

    class FailingOnce(Engine):
        failed = False

        def plan(self, *args: Any) -> Any:
            if self._plans == 1 and not self.failed:
                self.failed = True
                raise RuntimeError("planning failed")
            self._plans += 1
            return super().plan(*args)

        _plans = 0

    clock = FakeClock()
    engine = FailingOnce(redis, keys, clock=clock, batch_size=10)
    for cid in range(1, 26):
        await register(redis, keys, cid, interval(60), T0)
    with pytest.raises(RuntimeError, match="planning failed"):
        await engine.tick()
    assert len(await sent(redis, keys)) == 10
    result = await engine.tick()
    assert result.sent == 15
    assert len({m["task_id"] for m in await sent(redis, keys)}) == 25
