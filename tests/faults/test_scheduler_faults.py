"""A bare `taskplane scheduler` against a private Redis: after a restart and a 10 s outage it
keeps firing by itself, with one warning per outage and no fire sent twice."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from functools import partial

import pytest
from redis.asyncio import Redis

from taskplane.settings import Settings
from taskplane.state import heartbeats
from taskplane.state.keys import Keys
from tests.faults.conftest import Launch, log_lines, warnings_in
from tests.faults.servers import PrivateRedis
from tests.scheduling.processes import redis_now, sent_fires
from tests.scheduling.registrations import interval, register
from tests.support import eventually

pytestmark = [pytest.mark.slow, pytest.mark.faults]


async def test_scheduler_keeps_firing_after_a_redis_restart_and_a_10s_outage(
    fault_settings: Settings,
    server: PrivateRedis,
    private: Redis,
    keys: Keys,
    launch: Launch,
) -> None:
    proc, log = launch(
        fault_settings,
        "scheduler",
        # schedules registered through core, with no config rows: no reconcile
        TASKPLANE_SCHEDULER_RECONCILE_AT_START="false",
        TASKPLANE_SCHEDULER_RECONCILE_INTERVAL_SECONDS="0",
    )

    async def leading() -> bool:
        return await heartbeats.get_leader(private, keys) is not None

    await eventually(leading, within=60)
    first = datetime.fromtimestamp(int(await redis_now(private)) + 1, UTC)
    await register(private, keys, 1, interval(1), first)

    async def fired_after(instant: float) -> bool:
        return any(sent_at > instant for sent_at, *_ in await sent_fires(private, keys))

    await eventually(lambda: fired_after(0), within=30)
    for pause in (0.0, 10.0):  # a restart, then 10 s without Redis
        offset = log.stat().st_size
        server.stop()
        await asyncio.sleep(pause)
        server.start()
        await private.connection_pool.disconnect()  # the test's own connections died
        back_at = await redis_now(private)
        await eventually(partial(fired_after, back_at + 1), within=30)  # fires by itself
        assert proc.poll() is None, log.read_text()[-3000:]

        async def recovered(since: int = offset) -> bool:
            return any("store reachable again" in line for line in log_lines(log, since))

        await eventually(recovered, within=30)
        lines = log_lines(log, offset)
        warned = warnings_in(lines)
        assert len(warned) == 1 and "store unreachable" in warned[0], "\n".join(lines)
        assert len([line for line in lines if "store reachable again" in line]) == 1

    fires = await sent_fires(private, keys)
    ids = [task_id for _, task_id, _, _ in fires]
    dues = [due for *_, due in fires]
    assert len(ids) == len(set(ids)) and len(dues) == len(set(dues)), "a fire was sent twice"
