"""Real scheduler processes (``python -m taskplane.scheduling``) against real Redis:
failover after kill -9, several instances, restarts. Marked slow."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from redis.asyncio import Redis

from taskplane.settings import Settings
from taskplane.state import heartbeats
from taskplane.state.keys import Keys
from tests.faults import figures
from tests.scheduling.processes import leader_pid, redis_now, schedulers, sent_fires
from tests.scheduling.registrations import interval, register
from tests.stored_events import stored_event
from tests.support import eventually

pytestmark = pytest.mark.slow


def grid(first: datetime, every: int, until: float) -> list[datetime]:
    out = []
    at = first
    while at.timestamp() <= until:
        out.append(at)
        at += timedelta(seconds=every)
    return out


async def missed_dues(redis: Redis, keys: Keys, config_id: int, every: int) -> list[datetime]:
    """The due instants the engine dropped by misfire policy, from the `skipped` events."""
    out: list[datetime] = []
    for raw in await redis.lrange(keys.history(config_id), 0, -1):
        event = stored_event(raw)
        details = event.get("details", {})
        if event["event"] == "skipped" and details.get("reason") == "misfire":
            start = datetime.fromisoformat(details["due_at"])
            out += [start + timedelta(seconds=every * k) for k in range(details["missed"])]
    return out


@pytest.mark.faults
async def test_two_instances_send_each_fire_once_and_survive_kill_9_of_the_leader(
    settings: Settings,
    redis: Redis,
    keys: Keys,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    periods = {cid: 1 + cid % 3 for cid in range(1, 31)}  # 1, 2 and 3 s intervals
    async with schedulers(settings, tmp_path) as group:
        procs = [await group.start(), await group.start()]

        async def two_beating() -> bool:
            beats = await heartbeats.list_schedulers(redis, keys, stale_seconds=5)
            return len(beats) == 2 and await leader_pid(redis, keys) is not None

        await eventually(two_beating, within=30)
        first = datetime.fromtimestamp(int(await redis_now(redis)) + 2, UTC)
        for cid, every in periods.items():
            await register(redis, keys, cid, interval(every), first)
        await asyncio.sleep(30)  # a half minute with two instances

        found = await leader_pid(redis, keys)
        assert found is not None
        old_leader, pid = found
        victim = next(p for p in procs if p.pid == pid)
        killed_at = await redis_now(redis)
        os.kill(pid, signal.SIGKILL)
        await victim.wait()

        async def new_leader() -> bool:
            leader = await heartbeats.get_leader(redis, keys)
            return leader is not None and leader != old_leader

        await eventually(new_leader, within=5.0)  # takeover within 5 s of the kill
        took_over_at = await redis_now(redis)
        await asyncio.sleep(30)  # another half minute on the survivor
        for proc in procs:
            await group.stop(proc)
        stopped_at = await redis_now(redis)

    fires = await sent_fires(redis, keys)
    ids = [task_id for _, task_id, _, _ in fires]
    assert len(ids) == len(set(ids)), "a fire was sent twice"
    by_config: dict[int, set[datetime]] = defaultdict(set)
    for _, _, cid, due in fires:
        by_config[cid].add(due)
    # The failover window: fires due in it are collapsed into one catch-up (misfire: once).
    outage = (killed_at - 0.5, took_over_at + 0.5)
    dropped_outside = dropped_total = lost = 0
    for cid, every in periods.items():
        got = by_config[cid]
        cadence = grid(first, every, stopped_at)
        assert got <= set(cadence), f"config {cid}: off-cadence fire"
        # nothing missed beyond the misfire policy: every due is sent or dropped by it
        dropped = await missed_dues(redis, keys, cid, every)
        assert len(dropped) == len(set(dropped)) and not set(dropped) & got
        expected = [d for d in cadence if d.timestamp() <= stopped_at - 1.5]
        unaccounted = [d for d in expected if d not in got and d not in dropped]
        assert not unaccounted, f"config {cid}: lost {unaccounted}"
        lost += len(unaccounted)
        dropped_outside += sum(1 for d in dropped if not outage[0] <= d.timestamp() <= outage[1])
        dropped_total += len(dropped)
        in_outage = [d for d in expected if outage[0] <= d.timestamp() <= outage[1]]
        if in_outage:  # one catch-up fire covers the outage
            assert got & {*in_outage, in_outage[-1] + timedelta(seconds=every)}
    # away from the failover only a scheduler stalled past the on-time tolerance drops a fire
    assert dropped_outside <= len(periods), f"{dropped_outside} fires dropped outside"
    assert len(fires) > 30 * 20
    figures.record(
        request,
        fires=len(fires),
        lost=lost,
        duplicated=len(ids) - len(set(ids)),
        dropped_by_misfire_policy=dropped_total,
        takeover_seconds=took_over_at - killed_at,
    )


async def test_restart_neither_bursts_nor_loses_the_cadence(
    settings: Settings, redis: Redis, keys: Keys, tmp_path: Path
) -> None:
    now = await redis_now(redis)
    first = datetime.fromtimestamp(int(now) + 3, UTC)
    for cid in range(1, 21):
        await register(redis, keys, cid, interval(2), first)

    async with schedulers(settings, tmp_path) as group:
        proc = await group.start()

        async def fired_twice() -> bool:
            return len({d for _, _, _, d in await sent_fires(redis, keys)}) >= 2

        await eventually(fired_twice, within=30)
        await group.stop(proc)
        down_at = await redis_now(redis)
        await asyncio.sleep(5)  # two or three fires fall due while no scheduler runs
        proc = await group.start()

        async def leading() -> bool:
            return await leader_pid(redis, keys) is not None

        await eventually(leading, within=30)
        up_at = await redis_now(redis)
        await asyncio.sleep(6)
        await group.stop(proc)
        stopped_at = await redis_now(redis)

    fires = await sent_fires(redis, keys)
    ids = [task_id for _, task_id, _, _ in fires]
    assert len(ids) == len(set(ids))
    by_config: dict[int, list[tuple[float, datetime]]] = defaultdict(list)
    for sent_at, _, cid, due in fires:
        by_config[cid].append((sent_at, due))
    for cid in range(1, 21):
        dues = {d for _, d in by_config[cid]}
        assert dues <= set(grid(first, 2, stopped_at)), "off the cadence"
        # no burst: of the fires due during the downtime at most one (the catch-up) is sent
        downtime = [d for d in dues if down_at < d.timestamp() < up_at - 0.1]
        assert len(downtime) <= 1, f"config {cid}: burst after restart {downtime}"
        # and the cadence goes on after the restart: every due after it is sent
        after = [d for d in grid(first, 2, stopped_at - 1.5) if d.timestamp() > up_at + 0.5]
        dropped = set(await missed_dues(redis, keys, cid, 2))
        assert after and set(after) <= dues | dropped
        # sends after the restart: at most one catch-up plus the cadence, never a burst
        resent = [d for s, d in by_config[cid] if s >= up_at - 1]
        assert len(resent) <= 1 + len(after) + 1


async def test_stopped_leader_hands_over_at_once_and_leaves_no_heartbeat(
    settings: Settings, redis: Redis, keys: Keys, tmp_path: Path
) -> None:
    async with schedulers(settings, tmp_path) as group:
        a = await group.start()

        async def a_leads() -> bool:
            found = await leader_pid(redis, keys)
            return found is not None and found[1] == a.pid

        await eventually(a_leads, within=30)
        b = await group.start()

        async def both() -> bool:
            return len(await heartbeats.list_schedulers(redis, keys, stale_seconds=5)) == 2

        await eventually(both, within=30)
        started = time.monotonic()
        await group.stop(a)
        assert a.returncode == 0

        async def b_leads() -> bool:
            found = await leader_pid(redis, keys)
            return found is not None and found[1] == b.pid

        await eventually(b_leads, within=5)
        assert time.monotonic() - started < 5
        beats = await heartbeats.list_schedulers(redis, keys, stale_seconds=5)
        assert [x.pid for x in beats] == [b.pid]
