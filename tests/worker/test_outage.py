"""PostgreSQL unreachable for a while (a TCP proxy in front of it, stopped and started):
executions keep running, records wait in Redis -- also across a worker restart -- and once
PostgreSQL is back every record is there, none twice."""

from __future__ import annotations

import signal

import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from taskplane.db.models import TaskExecution
from taskplane.messages import CONSUMER_GROUP
from taskplane.resources import make_redis
from taskplane.state.keys import Keys
from tests import services as test_services
from tests.conftest import delete_prefix
from tests.faults import figures
from tests.support import eventually
from tests.worker.conftest import (
    Sessions,
    TcpProxy,
    fast_settings,
    new_config,
    rows,
    send,
    wait_rows,
)


async def _executed(redis: Redis, keys: Keys, buffered: int) -> bool:
    """Every message taken and acknowledged, ``buffered`` records waiting in Redis."""
    stream = keys.broker_stream("default")
    pending = await redis.xpending(stream, CONSUMER_GROUP)
    return (
        await redis.xlen(stream) == 0
        and int(pending["pending"]) == 0
        and await redis.zcard(keys.retry_delayed) == 0
        and await redis.xlen(keys.recorder_buffer) == buffered
    )


async def _count(sessions: Sessions) -> int:
    async with sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(TaskExecution)) or 0)


@pytest.mark.faults
async def test_records_survive_a_database_outage_and_a_worker_restart(
    services: test_services.TestServices,
    sessions: Sessions,
    spawn: object,
    request: pytest.FixtureRequest,
) -> None:
    url = make_url(services.database_url)
    assert url.host is not None
    proxy = TcpProxy(url.host, url.port or 5432)
    await proxy.start()
    settings = fast_settings(
        services,
        database_url=url.set(port=proxy.port).render_as_string(hide_password=False),
    )
    redis = make_redis(settings)
    keys = Keys(settings.redis_prefix)
    try:
        cid = await new_config(sessions)
        worker = await spawn(settings)  # type: ignore[operator]
        await worker.wait_ready(redis, keys)
        for i in range(3):
            await send(redis, keys, cid, "echo", {"message": f"before {i}"})
        await wait_rows(sessions, 3)

        await proxy.stop()  # PostgreSQL unreachable from the worker from now on
        ok = [await send(redis, keys, cid, "echo", {"message": f"down {i}"}) for i in range(30)]
        failing = await send(
            redis, keys, cid, "echo", {"message": "down", "fail": True}, max_retries=2
        )
        expected_buffered = 30 + 3
        await eventually(lambda: _executed(redis, keys, expected_buffered), within=60)
        assert await _count(sessions) == 3

        # the worker dies hard while everything is still buffered; a new one takes over
        await worker.stop(signal.SIGKILL)
        worker2 = await spawn(settings)  # type: ignore[operator]
        await redis.hdel(keys.workers, *(await redis.hkeys(keys.workers)))
        await worker2.wait_ready(redis, keys)
        more = [await send(redis, keys, cid, "echo", {"message": f"later {i}"}) for i in range(5)]
        await eventually(lambda: _executed(redis, keys, expected_buffered + 5), within=60)
        assert await _count(sessions) == 3

        await proxy.start()  # PostgreSQL is back
        await wait_rows(sessions, 3 + expected_buffered + 5, within=90)
        await eventually(lambda: _executed(redis, keys, 0), within=30)
        found = await rows(sessions)
        assert len(found) == 3 + expected_buffered + 5
        keys_seen = [(r.task_id, r.attempt) for r in found]
        assert len(set(keys_seen)) == len(keys_seen)
        assert {r.task_id for r in found} >= {*ok, *more, failing}
        assert sorted(r.attempt for r in found if r.task_id == failing) == [1, 2, 3]
        assert sum(r.is_success for r in found) == 3 + 30 + 5
        figures.record(
            request,
            records=len(found),
            buffered_during_outage=expected_buffered + 5,
            lost=3 + expected_buffered + 5 - len(set(keys_seen)),
            duplicated=len(keys_seen) - len(set(keys_seen)),
        )
    finally:
        await proxy.stop()
        await delete_prefix(redis, settings.redis_prefix)
        await redis.aclose()
        await redis.connection_pool.disconnect()


async def test_two_workers_record_every_message_once(
    services: test_services.TestServices, sessions: Sessions, spawn: object
) -> None:
    settings = fast_settings(services)
    redis = make_redis(settings)
    keys = Keys(settings.redis_prefix)
    try:
        cid = await new_config(sessions)
        workers = [await spawn(settings, "--concurrency", "5") for _ in range(2)]  # type: ignore[operator]
        for w in workers:
            await w.wait_ready(redis, keys)

        async def both_beating() -> bool:
            return int(await redis.hlen(keys.workers)) == 2

        await eventually(both_beating, within=60)
        sent = [await send(redis, keys, cid, "echo", {"message": str(i)}) for i in range(150)]
        failing = await send(
            redis, keys, cid, "echo", {"message": "f", "fail": True}, max_retries=2
        )
        await wait_rows(sessions, 153, within=90)
        await eventually(lambda: _executed(redis, keys, 0), within=30)
        found = await rows(sessions)
        assert len(found) == 153
        assert {r.task_id for r in found} == {*sent, failing}
        assert sorted(r.attempt for r in found if r.task_id == failing) == [1, 2, 3]
    finally:
        await delete_prefix(redis, settings.redis_prefix)
        await redis.aclose()
        await redis.connection_pool.disconnect()
