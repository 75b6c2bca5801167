"""One real worker process (module-scoped) receiving real messages built by
``messages.build/send_many``: every outcome becomes the expected execution record."""

from __future__ import annotations

import asyncio
import itertools
import json
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from redis.asyncio import Redis

from taskplane import messages
from taskplane.actors import CLI
from taskplane.enums import Trigger
from taskplane.messages import CONSUMER_GROUP
from taskplane.resources import make_redis
from taskplane.settings import Settings
from taskplane.state.keys import Keys
from taskplane.state.schedule_state import ScheduleStateService
from tests import services as test_services
from tests.conftest import delete_prefix
from tests.support import eventually
from tests.worker.conftest import (
    Sessions,
    WorkerProcess,
    fast_settings,
    new_config,
    rows,
    send,
    wait_rows,
)


@dataclass
class Live:
    settings: Settings
    redis: Redis
    keys: Keys
    worker: WorkerProcess


@pytest.fixture(scope="module")
async def live(services: test_services.TestServices) -> AsyncIterator[Live]:
    settings = fast_settings(services)
    redis = make_redis(settings)
    keys = Keys(settings.redis_prefix)
    worker = await WorkerProcess(settings).start()
    try:
        await worker.wait_ready(redis, keys)
        yield Live(settings, redis, keys, worker)
    finally:
        await worker.stop(signal.SIGKILL)
        worker.close()
        await delete_prefix(redis, settings.redis_prefix)
        await redis.aclose()
        await redis.connection_pool.disconnect()


async def test_success_is_recorded_with_its_result(live: Live, sessions: Sessions) -> None:
    cid = await new_config(sessions)
    task_id = await send(live.redis, live.keys, cid, "echo", {"message": "hello"})
    [row] = await wait_rows(sessions, 1, task_id=task_id)
    assert row.is_success is True
    assert row.config_id == cid and row.task_type == "echo" and row.trigger == "manual"
    assert row.attempt == 1
    assert row.result is not None and row.result["data"] == "hello"
    assert row.result["success"] is True and row.error_message is None
    assert row.completed_at >= row.started_at
    assert 0 <= row.duration_seconds < 60
    assert row.worker is not None and row.worker.startswith("worker-")
    assert await live.redis.scard(live.keys.running(cid)) == 0


async def test_failure_by_return_is_recorded(live: Live, sessions: Sessions) -> None:
    cid = await new_config(sessions, "test_refuse")
    task_id = await send(live.redis, live.keys, cid, "test_refuse", {"reason": "closed"})
    [row] = await wait_rows(sessions, 1, task_id=task_id)
    assert row.is_success is False
    assert row.error_message == "refused: closed"
    assert row.result is not None and row.result["data"] == {"reason": "closed"}
    assert row.traceback is None


async def test_failure_by_exception_is_recorded_with_traceback(
    live: Live, sessions: Sessions
) -> None:
    cid = await new_config(sessions)
    task_id = await send(live.redis, live.keys, cid, "echo", {"message": "boom", "fail": True})
    [row] = await wait_rows(sessions, 1, task_id=task_id)
    assert row.is_success is False
    assert row.error_message == "EchoFailure: boom"
    assert row.traceback is not None and "EchoFailure: boom" in row.traceback
    assert "echo.py" in row.traceback


async def test_invalid_parameters_are_a_recorded_failure_never_retried(
    live: Live, sessions: Sessions
) -> None:
    cid = await new_config(sessions)
    task_id = await send(live.redis, live.keys, cid, "echo", {"messag": "typo"}, max_retries=3)
    [row] = await wait_rows(sessions, 1, task_id=task_id)
    assert row.is_success is False
    assert row.error_message is not None
    assert row.error_message.startswith("invalid parameters: ")
    assert "parameters.message" in row.error_message
    # the retry would have been queued in the same script as the record
    assert await live.redis.zcard(live.keys.retry_delayed) == 0


async def test_timeout_from_the_label_is_enforced(live: Live, sessions: Sessions) -> None:
    cid = await new_config(sessions, "sleep")
    task_id = await send(live.redis, live.keys, cid, "sleep", {"seconds": 30}, timeout_seconds=1)
    [row] = await wait_rows(sessions, 1, task_id=task_id)
    assert row.is_success is False
    assert row.error_message == "timed out after 1 seconds"
    assert 1 <= row.duration_seconds < 30


async def test_failed_attempts_are_retried_with_attempt_numbers(
    live: Live, sessions: Sessions
) -> None:
    cid = await new_config(sessions)
    task_id = await send(
        live.redis, live.keys, cid, "echo", {"message": "again", "fail": True}, max_retries=2
    )
    found = await wait_rows(sessions, 3, task_id=task_id)
    assert [r.attempt for r in found] == [1, 2, 3]
    assert all(not r.is_success and r.error_message == "EchoFailure: again" for r in found)
    assert all(r.duration_seconds >= 0 for r in found)
    # attempt n+1 starts after attempt n ended (backoff in between)
    for before, after in itertools.pairwise(found):
        assert after.started_at >= before.completed_at
    assert await live.redis.zcard(live.keys.retry_delayed) == 0


async def test_retries_stop_at_the_first_success(live: Live, sessions: Sessions) -> None:
    cid = await new_config(sessions, "test_flaky")
    task_id = await send(
        live.redis, live.keys, cid, "test_flaky", {"key": "k", "succeed_on": 2}, max_retries=5
    )
    found = await wait_rows(sessions, 2, task_id=task_id)
    assert [(r.attempt, r.is_success) for r in found] == [(1, False), (2, True)]
    assert found[0].error_message == "RuntimeError: flaky attempt 1"
    assert found[1].result is not None and found[1].result["data"] == {"attempt": 2}
    await asyncio.sleep(0.5)  # a third attempt would be due by now (backoff <= 0.2 s)
    assert len(await rows(sessions, task_id=task_id)) == 2


async def test_type_from_task_modules_runs(live: Live, sessions: Sessions) -> None:
    cid = await new_config(sessions, "test_add")
    task_id = await send(live.redis, live.keys, cid, "test_add", {"a": 2, "b": 40})
    [row] = await wait_rows(sessions, 1, task_id=task_id)
    assert row.is_success and row.result is not None and row.result["data"] == 42


async def test_unknown_task_type_is_a_recorded_failure(live: Live, sessions: Sessions) -> None:
    cid = await new_config(sessions)
    task_id = await send(live.redis, live.keys, cid, "no_such_type", {})
    [row] = await wait_rows(sessions, 1, task_id=task_id)
    assert row.is_success is False
    assert row.error_message == "task type 'no_such_type' is not registered on this worker"


async def _drained(live: Live) -> bool:
    stream = live.keys.broker_stream("default")
    pending = await live.redis.xpending(stream, CONSUMER_GROUP)
    return (
        await live.redis.xlen(stream) == 0
        and int(pending["pending"]) == 0
        and await live.redis.xlen(live.keys.recorder_buffer) == 0
    )


async def test_same_message_delivered_twice_is_recorded_once(
    live: Live, sessions: Sessions
) -> None:
    cid = await new_config(sessions)
    out = messages.build(
        config_id=cid,
        task_type="echo",
        queue="default",
        parameters={"message": "once"},
        trigger=Trigger.SCHEDULED,
        task_id=f"{cid}-1700000000000",
    )
    await messages.send_many(live.redis, live.keys, [out, out])
    await messages.send_many(live.redis, live.keys, [out])
    await wait_rows(sessions, 1, task_id=out.task_id)
    # every copy taken and acknowledged, nothing left to record: no second row can come
    await eventually(lambda: _drained(live), within=30)
    assert len(await rows(sessions, task_id=out.task_id)) == 1


async def test_message_left_by_a_crashed_worker_is_redelivered_and_run_once(
    live: Live, sessions: Sessions
) -> None:
    """A consumer that read messages and died: the live worker claims them after the idle
    timeout; one whose attempt was already recorded (claim done) is not run again."""
    cid = await new_config(sessions)
    stream = live.keys.broker_stream("default")
    lost = messages.build(
        config_id=cid,
        task_type="echo",
        queue="default",
        parameters={"message": "lost"},
        trigger=Trigger.MANUAL,
    )
    recorded = messages.build(
        config_id=cid,
        task_type="echo",
        queue="default",
        parameters={"message": "done"},
        trigger=Trigger.MANUAL,
    )
    # the dead worker had recorded `recorded` (its claim is done) but not acknowledged it
    await live.redis.set(live.keys.execution_claim(recorded.task_id, 1), "done:dead", px=60_000)
    # a dead consumer takes both off the stream (XREADGROUP) and never acknowledges them:
    # hold the live worker off by reading in the same round trip as the adds
    async with live.redis.pipeline(transaction=True) as pipe:
        pipe.xadd(stream, {"data": lost.body})
        pipe.xadd(stream, {"data": recorded.body})
        pipe.xreadgroup(CONSUMER_GROUP, "dead-consumer", {stream: ">"}, count=100)
        *_, taken = await pipe.execute()
    taken_ids = {msg_id for _, msgs in taken for msg_id, _ in msgs}
    assert len(taken_ids) == 2  # the dead consumer holds both
    [row] = await wait_rows(sessions, 1, within=60, task_id=lost.task_id)
    assert row.is_success and row.result is not None and row.result["data"] == "lost"
    await eventually(lambda: _drained(live), within=30)
    assert await rows(sessions, task_id=recorded.task_id) == []


async def test_long_run_is_not_taken_for_a_crashed_one(live: Live, sessions: Sessions) -> None:
    """The idle timeout here is 1 s; a 3 s run is kept alive by the worker's heartbeat."""
    cid = await new_config(sessions, "sleep")
    task_id = await send(live.redis, live.keys, cid, "sleep", {"seconds": 3})

    async def running() -> bool:
        return bool(await live.redis.sismember(live.keys.running(cid), task_id))

    await eventually(running, within=30)
    [row] = await wait_rows(sessions, 1, task_id=task_id)
    assert row.is_success
    await eventually(lambda: _drained(live), within=30)
    assert len(await rows(sessions, task_id=task_id)) == 1
    assert not await running()


async def test_worker_heartbeat_names_its_queues(live: Live) -> None:
    raw = await live.redis.hgetall(live.keys.workers)
    assert len(raw) == 1
    [beat] = [json.loads(v) for v in raw.values()]
    assert beat["queues"] == ["default"]
    assert beat["id"].startswith("worker-") and isinstance(beat["pid"], int)
    assert live.worker.proc is not None and beat["pid"] == live.worker.proc.pid


async def test_schedule_counters_follow_the_recorded_rows(live: Live, sessions: Sessions) -> None:
    cid = await new_config(sessions)
    state = ScheduleStateService(live.redis, live.keys)
    await state.create(cid, {}, actor=CLI)
    ok_ids = [await send(live.redis, live.keys, cid, "echo", {"message": "a"}) for _ in range(2)]
    failing = await send(
        live.redis, live.keys, cid, "echo", {"message": "b", "fail": True}, max_retries=1
    )
    await wait_rows(sessions, 4, config_id=cid)

    async def counted() -> bool:
        s = await state.get(cid)
        return s is not None and s.runs == 4

    await eventually(counted, within=30)
    s = await state.get(cid)
    assert s is not None
    assert (s.runs, s.successes, s.failures) == (4, 2, 2)
    assert s.last_run_at is not None
    assert s.last_task_id in {*ok_ids, failing}
