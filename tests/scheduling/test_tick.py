"""A tick under a backlog (``scheduling/tick.py``): the next batch queued behind the one Redis
runs, every fire sent once, the index changing under the tick, refusals and NOSCRIPT."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from redis.asyncio import Redis

from taskplane.epoch import to_ms
from taskplane.scheduling import tick
from taskplane.scheduling.evalsha import Channel
from taskplane.state.heartbeats import SchedulerPresence
from taskplane.state.keys import Keys
from tests.scheduling.registrations import interval, register
from tests.scheduling.test_engine import T0, FakeClock, make_engine, sent


class SpyChannel(Channel):
    """A channel that writes down what goes down it and comes back, in order."""

    log: list[str] = []

    async def send(self, *commands: Any) -> None:
        for command in commands:
            self.log.append("fire" if command[0] == "EVALSHA" else "read")
        await super().send(*commands)

    async def read(self) -> Any:
        reply = await super().read()
        self.log.append("reply")
        return reply


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    SpyChannel.log = []
    monkeypatch.setattr(tick, "Channel", SpyChannel)
    return SpyChannel.log


async def test_the_next_batch_is_queued_before_the_running_one_answers(
    redis: Redis, keys: Keys, spy: list[str]
) -> None:
    """Four full batches and a part: each batch's script is sent before the reply of the one
    before it is read (Redis never waits for a round trip), with the read of the batch after
    the next queued right behind it; every fire is sent once."""
    clock = FakeClock()
    engine = make_engine(redis, keys, clock, batch_size=10)
    for cid in range(1, 46):
        await register(redis, keys, cid, interval(60), T0)
    result = await engine.tick()
    assert (result.read, result.sent) == (45, 45)
    messages = await sent(redis, keys)
    assert sorted(m["labels"]["config_id"] for m in messages) == list(range(1, 46))
    assert spy == [
        *("fire", "read"),  # batch 0, and behind it the read of batch 2
        "fire",  # batch 1, queued while Redis runs batch 0
        *("reply", "reply"),  # batch 0 answered, batch 2's entries
        "read",  # batch 3's entries, behind batch 1
        "fire",  # batch 2
        *("reply", "reply"),
        "read",  # batch 4's (a part: the last)
        "fire",
        *("reply", "reply"),
        "fire",  # batch 4: nothing is read behind a part
        "reply",
        "reply",
    ]


async def test_entries_added_ahead_of_a_backlog_meanwhile_fire_once(
    redis: Redis, keys: Keys
) -> None:
    """Entries inserted at the head of the index while a tick runs shift what the reads ahead
    see: some are read twice (dropped, or refused by the compare-and-set), some left for the
    next tick; none is sent twice, and the next tick sends what was left."""
    clock = FakeClock()

    class Inserting(type(make_engine(redis, keys, clock))):  # type: ignore[misc]
        inserted = 0

        async def load(self, due: Any) -> Any:
            if self.inserted < 3:  # an earlier due than any entry: they sort first
                self.inserted += 1
                for k in range(4):
                    cid = 100 + self.inserted * 10 + k
                    await register(redis, keys, cid, interval(60), T0 - timedelta(seconds=5))
            return await super().load(due)

    engine = Inserting(redis, keys, clock=clock, history_max=50, batch_size=10)
    for cid in range(1, 41):
        await register(redis, keys, cid, interval(60), T0)
    total = 0
    for _ in range(3):
        total += (await engine.tick()).sent
    counts = Counter(
        (m["labels"]["config_id"], m["labels"]["due_at"]) for m in await sent(redis, keys)
    )
    assert max(counts.values()) == 1
    assert {cid for cid, _ in counts} == set(range(1, 41)) | {
        100 + i * 10 + k for i in (1, 2, 3) for k in range(4)
    }
    assert total == len(counts) == 52
    assert await redis.zcount(keys.due, "-inf", to_ms(T0)) == 0


async def test_a_refused_batch_ends_the_tick_once_the_queued_one_answered(
    redis: Redis, keys: Keys, spy: list[str]
) -> None:
    """The lease lost while a backlog is fired: the batch running refuses, so does the one
    queued behind it, and nothing more is sent; the channel is read to its end."""
    clock = FakeClock()
    presence = SchedulerPresence(redis, keys, instance_id="me", lease_ms=60_000)
    assert await presence.hold_lease()
    engine = make_engine(redis, keys, clock, batch_size=10, presence=presence)
    for cid in range(1, 46):
        await register(redis, keys, cid, interval(60), T0)
    await redis.set(keys.scheduler_leader, "someone-else")
    result = await engine.tick()
    assert (result.sent, result.is_leader) == (0, False)
    assert await sent(redis, keys) == []
    assert spy.count("fire") == 2 and spy.count("reply") == 3  # two batches, one read ahead
    assert not presence.is_leader


async def test_a_redis_that_lost_the_script_mid_backlog_fires_each_once(
    redis: Redis, keys: Keys
) -> None:
    """SCRIPT FLUSH while batches are queued: the script is loaded again and the tick starts
    over; what the refused batches read is still due and is sent, once."""
    clock = FakeClock()

    class Flushing(type(make_engine(redis, keys, clock))):  # type: ignore[misc]
        plans = 0

        def plan(self, *args: Any) -> Any:
            self.plans += 1
            return super().plan(*args)

        async def load(self, due: Any) -> Any:
            if self.plans == 2:
                await redis.script_flush()
            return await super().load(due)

    engine = Flushing(redis, keys, clock=clock, history_max=50, batch_size=10)
    for cid in range(1, 46):
        await register(redis, keys, cid, interval(60), T0)
    result = await engine.tick()
    counts = Counter(m["labels"]["config_id"] for m in await sent(redis, keys))
    assert sorted(counts) == list(range(1, 46)) and max(counts.values()) == 1
    assert result.read >= 10 and await redis.zcount(keys.due, "-inf", to_ms(T0)) == 0
