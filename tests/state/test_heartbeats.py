"""Scheduler lease and heartbeats, and the read helpers the API uses (real Redis)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis

from taskplane.state import heartbeats
from taskplane.state.keys import Keys
from tests.support import eventually


async def test_only_one_instance_holds_the_lease_and_it_renews(redis: Redis, keys: Keys) -> None:
    a = heartbeats.SchedulerPresence(redis, keys, instance_id="a", lease_ms=5000)
    b = heartbeats.SchedulerPresence(redis, keys, instance_id="b", lease_ms=5000)
    assert await a.hold_lease() is True
    assert await b.hold_lease() is False
    assert await a.hold_lease() is True  # renewal by the holder
    assert await heartbeats.get_leader(redis, keys) == "a"
    assert 0 < await redis.pttl(keys.scheduler_leader) <= 5000


async def test_expired_lease_is_taken_over(redis: Redis, keys: Keys) -> None:
    a = heartbeats.SchedulerPresence(redis, keys, instance_id="a", lease_ms=500)
    b = heartbeats.SchedulerPresence(redis, keys, instance_id="b", lease_ms=500)
    assert await a.hold_lease()
    # simulate a's death: its lease runs out without renewal
    await redis.pexpire(keys.scheduler_leader, 1)

    async def gone() -> bool:
        return not await redis.exists(keys.scheduler_leader)

    await eventually(gone)
    assert await b.hold_lease() is True
    assert await a.hold_lease() is False
    assert a.is_leader is False


async def test_release_only_drops_own_lease(redis: Redis, keys: Keys) -> None:
    a = heartbeats.SchedulerPresence(redis, keys, instance_id="a")
    b = heartbeats.SchedulerPresence(redis, keys, instance_id="b")
    assert await a.hold_lease()
    await b.release_lease()
    assert await heartbeats.get_leader(redis, keys) == "a"
    await a.leave()
    assert await heartbeats.get_leader(redis, keys) is None
    assert await b.hold_lease()


async def test_list_schedulers_reports_leader_from_lease_and_staleness(
    redis: Redis, keys: Keys
) -> None:
    a = heartbeats.SchedulerPresence(redis, keys, instance_id="a", stale_seconds=15)
    b = heartbeats.SchedulerPresence(redis, keys, instance_id="b", stale_seconds=15)
    assert await a.hold_lease()
    now = datetime.now(UTC)
    await a.beat(now)
    await b.beat(now - timedelta(seconds=10))
    later = now + timedelta(seconds=8)
    beats = await heartbeats.list_schedulers(redis, keys, stale_seconds=15, now=later)
    assert [(x.id, x.is_leader, x.is_stale) for x in beats] == [
        ("a", True, False),
        ("b", False, True),
    ]
    assert heartbeats.live(beats) == 1
    assert beats[0].pid is not None


async def test_beat_prunes_stale_and_garbage_fields_but_not_itself(
    redis: Redis, keys: Keys
) -> None:
    old = (datetime.now(UTC) - timedelta(seconds=100)).isoformat()
    await redis.hset(
        keys.scheduler_instances,
        mapping={
            "dead": json.dumps({"id": "dead", "heartbeat_at": old, "is_leader": True}),
            "garbage": "not json",
        },
    )
    a = heartbeats.SchedulerPresence(redis, keys, instance_id="a", stale_seconds=15)
    await a.beat()
    assert set(await redis.hkeys(keys.scheduler_instances)) == {"a"}
    await a.leave()
    assert await redis.hkeys(keys.scheduler_instances) == []


async def test_list_workers_parses_heartbeats_and_flags_stale(redis: Redis, keys: Keys) -> None:
    now = datetime.now(UTC)
    await redis.hset(
        keys.workers,
        mapping={
            "w2": json.dumps(
                {
                    "id": "w2",
                    "heartbeat_at": (now - timedelta(seconds=60)).isoformat(),
                    "queues": ["default"],
                    "pid": 12,
                    "host": "h",
                }
            ),
            "w1": json.dumps(
                {"id": "w1", "heartbeat_at": now.isoformat(), "queues": ["default", "x"]}
            ),
            "bad": "{",
        },
    )
    workers = await heartbeats.list_workers(redis, keys, stale_seconds=15, now=now)
    assert [(w.id, w.queues, w.is_stale) for w in workers] == [
        ("w1", ["default", "x"], False),
        ("w2", ["default"], True),
    ]
    assert workers[1].pid == 12
    assert heartbeats.live(workers) == 1
