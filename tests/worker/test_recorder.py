"""The recorder's pieces against real Redis and PostgreSQL: the claim, the buffer's
encoding, the flusher (batches, duplicates, the lease, counters after the write)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from redis.asyncio import Redis
from taskiq.message import TaskiqMessage
from taskiq.result import TaskiqResult

from taskplane import messages
from taskplane.db.executions import ExecutionRecord
from taskplane.enums import Trigger
from taskplane.messages import CONSUMER_GROUP
from taskplane.resources import Resources
from taskplane.settings import Settings
from taskplane.state.keys import Keys
from taskplane.tasks.registry import TaskRegistry
from taskplane.tasks.result import ExecutionResult
from taskplane.worker.execution import REDELIVERED_LABEL, SKIP_LABEL, Attempt
from taskplane.worker.flusher import RecordFlusher
from taskplane.worker.recorder import ExecutionRecorder, decode_record, encode_record
from tests.support import stream_entries
from tests.worker.conftest import new_config, rows

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _record(cid: int, n: int, attempt: int = 1, ok: bool = True) -> ExecutionRecord:
    return ExecutionRecord(
        config_id=cid,
        task_id=f"t{n}",
        task_type="echo",
        trigger=Trigger.BATCH,
        is_success=ok,
        attempt=attempt,
        started_at=T0 + timedelta(seconds=n),
        completed_at=T0 + timedelta(seconds=n, milliseconds=5),
        duration_seconds=0.005,
        result={"success": ok, "data": {"n": n}},
        error_message=None if ok else "e",
        traceback=None,
        worker="w1",
    )


def test_record_round_trips_through_the_buffer_encoding() -> None:
    r = _record(3, 1, ok=False)
    assert decode_record(encode_record(r)) == r


def _message(task_id: str, *, redelivered: bool = False) -> TaskiqMessage:
    out = messages.build(
        config_id=5,
        task_type="echo",
        queue="default",
        parameters={"message": "x"},
        trigger=Trigger.MANUAL,
        task_id=task_id,
    )
    m = messages.decode(out.body)
    if redelivered:
        m.labels[REDELIVERED_LABEL] = True
    return m


async def test_claim_runs_an_attempt_once_and_lets_a_redelivery_take_over(
    redis: Redis, keys: Keys, settings: Settings
) -> None:
    a = ExecutionRecorder(redis, keys, settings, TaskRegistry(), "wa")
    b = ExecutionRecorder(redis, keys, settings, TaskRegistry(), "wb")
    first = await a.pre_execute(_message("x1"))
    assert SKIP_LABEL not in first.labels
    assert await redis.get(keys.execution_claim("x1", 1)) == "run:wa"
    assert await redis.smembers(keys.running(5)) == {"x1"}
    assert 0 < await redis.ttl(keys.running(5)) <= a.running_ttl_seconds
    # a duplicate send while it runs: skipped
    dup = await b.pre_execute(_message("x1"))
    assert dup.labels[SKIP_LABEL] == "duplicate delivery"
    # the worker died: its message comes back re-delivered and is taken over
    again = await b.pre_execute(_message("x1", redelivered=True))
    assert SKIP_LABEL not in again.labels
    assert await redis.get(keys.execution_claim("x1", 1)) == "run:wb"
    # once recorded, not even a re-delivery runs it again
    await redis.set(keys.execution_claim("x1", 1), "done:wb")
    late = await a.pre_execute(_message("x1", redelivered=True))
    assert late.labels[SKIP_LABEL] == "duplicate delivery"


class _Counting:
    """Wraps a registered script and counts its calls."""

    def __init__(self, script: Any) -> None:
        self.script = script
        self.calls = 0

    async def __call__(self, **kwargs: Any) -> Any:
        self.calls += 1
        return await self.script(**kwargs)


async def test_claims_and_finishes_of_one_turn_share_one_script_call(
    redis: Redis, keys: Keys, settings: Settings
) -> None:
    rec = ExecutionRecorder(redis, keys, settings, TaskRegistry(), "wa")
    claims, finishes = _Counting(rec._claims.script), _Counting(rec._finishes.script)
    rec._claims.script, rec._finishes.script = claims, finishes  # type: ignore[assignment]
    ids = [f"b{i}" for i in range(5)]
    # five deliveries and a duplicate of the first, all in one turn
    claimed = await asyncio.gather(*(rec.pre_execute(_message(i)) for i in [*ids, "b0"]))
    assert claims.calls == 1
    # each item keeps its own semantics: the duplicate (later in the batch) is skipped
    assert [SKIP_LABEL in m.labels for m in claimed] == [False] * 5 + [True]
    assert await redis.smembers(keys.running(5)) == set(ids)

    def attempt(task_id: str, ok: bool) -> Attempt:
        return Attempt(
            task_id=task_id,
            config_id=5,
            task_type="echo",
            trigger=Trigger.MANUAL,
            attempt=1,
            started_at=T0,
            completed_at=T0,
            duration_seconds=0.0,
            result=ExecutionResult.ok("x") if ok else ExecutionResult.fail("no"),
        )

    def result(a: Attempt) -> TaskiqResult[Any]:
        return TaskiqResult(is_err=False, return_value=a, execution_time=0.0)

    await asyncio.gather(
        *(rec.post_execute(m, result(attempt(m.task_id, m.task_id != "b1"))) for m in claimed[:5])
    )
    assert finishes.calls == 1
    buffered = [decode_record(e["r"]) for _, e in await stream_entries(redis, keys.recorder_buffer)]
    assert sorted((r.task_id, r.is_success) for r in buffered) == [(i, i != "b1") for i in ids]
    assert [await redis.get(keys.execution_claim(i, 1)) for i in ids] == ["done:wa"] * 5
    assert await redis.smembers(keys.running(5)) == set()


async def test_flusher_writes_batches_once_and_reports_them_after(
    resources: Resources,
) -> None:
    cid = await new_config(resources.sessions)
    keys, redis = resources.keys, resources.redis
    reported: list[ExecutionRecord] = []

    async def on_recorded(records: Sequence[ExecutionRecord]) -> None:
        # called after the commit: the rows are visible
        assert len(await rows(resources.sessions)) >= len(reported) + len(records)
        reported.extend(records)

    records = [_record(cid, n) for n in range(12)]
    for r in [*records, records[0], records[5]]:  # two duplicates in the buffer
        await redis.xadd(keys.recorder_buffer, {"r": encode_record(r)})
    flusher = RecordFlusher(
        redis, keys, resources.sessions, "w1", on_recorded=on_recorded, batch_size=5
    )
    other = RecordFlusher(redis, keys, resources.sessions, "w2", batch_size=5)
    assert await flusher.flush_once() == 5
    assert await other.flush_once() == 0  # w1 holds the lease
    while await flusher.flush_once():
        pass
    assert await redis.xlen(keys.recorder_buffer) == 0
    found = await rows(resources.sessions)
    assert sorted((r.task_id, r.attempt) for r in found) == sorted((r.task_id, 1) for r in records)
    assert found[0].result == {"success": True, "data": {"n": int(found[0].task_id[1:])}}
    # every attempt reported once, after its row was committed
    assert sorted(r.task_id for r in reported) == sorted(r.task_id for r in records)
    # a record written before but still in the buffer (crash between commit and XDEL)
    await redis.xadd(keys.recorder_buffer, {"r": encode_record(records[3])})
    assert await flusher.flush_once() == 1
    assert len(reported) == 12 and len(await rows(resources.sessions)) == 12
    await flusher.release()
    assert await other.flush_once() == 0  # empty buffer, but the lease is free again
    assert await redis.get(keys.recorder_flush_lock) == "w2"


async def test_flusher_keeps_records_when_the_database_fails(
    resources: Resources, settings: Settings
) -> None:
    from taskplane.db.session import make_engine, make_session_factory

    bad = settings.model_copy(
        update={
            "database_url": type(settings.database_url)(
                "postgresql+asyncpg://postgres@127.0.0.1:1/nowhere"
            )
        }
    )
    engine = make_engine(bad)
    try:
        keys, redis = resources.keys, resources.redis
        await redis.xadd(keys.recorder_buffer, {"r": encode_record(_record(1, 1))})
        flusher = RecordFlusher(redis, keys, make_session_factory(engine), "w1")
        try:
            await flusher.flush_once()
        except Exception:
            pass
        else:
            raise AssertionError("flush against an unreachable database must fail")
        assert await redis.xlen(keys.recorder_buffer) == 1
        assert await flusher.drain(within_seconds=5) == 0
        assert await redis.xlen(keys.recorder_buffer) == 1
    finally:
        await engine.dispose()


async def test_executor_turns_every_fault_into_a_recorded_failure(resources: Resources) -> None:
    from pydantic import BaseModel, field_validator

    from taskplane.tasks.registry import task_type
    from taskplane.worker.execution import Attempt, Executor

    class Picky(BaseModel):
        x: int = 0

        @field_validator("x")
        @classmethod
        def _boom(cls, v: int) -> int:
            if v == 13:
                raise TypeError("unlucky")
            return v

    @task_type("picky", params=Picky)
    async def picky(params: Picky) -> int:
        return params.x

    registry = TaskRegistry([picky.__taskplane_task_type__])  # type: ignore[attr-defined]
    executor = Executor(registry, resources, "w")
    out = messages.build(
        config_id=1,
        task_type="picky",
        queue="default",
        parameters={"x": 13},
        trigger=Trigger.MANUAL,
    )
    attempt = await executor.run(registry.get("picky"), messages.decode(out.body))
    assert isinstance(attempt, Attempt)
    assert attempt.result.success is False and attempt.is_retryable is False
    assert attempt.result.error == "invalid parameters: TypeError: unlucky"


async def test_record_with_ack_acknowledges_the_message_in_the_same_script(
    redis: Redis, keys: Keys, settings: Settings
) -> None:
    rec = ExecutionRecorder(redis, keys, settings, TaskRegistry(), "wa")
    stream = keys.broker_stream("default")
    await redis.xgroup_create(stream, CONSUMER_GROUP, id="0", mkstream=True)
    await redis.xadd(stream, {"data": "x"})
    fetched: Any = await redis.xreadgroup(CONSUMER_GROUP, "wa", {stream: ">"}, count=1)
    msg_id = (
        next(iter(fetched.values()))[0][0] if isinstance(fetched, dict) else fetched[0][1][0][0]
    )
    m = await rec.pre_execute(_message("k1"))
    attempt = Attempt(
        task_id="k1",
        config_id=5,
        task_type="echo",
        trigger=Trigger.MANUAL,
        attempt=1,
        started_at=T0,
        completed_at=T0,
        duration_seconds=0.0,
        result=ExecutionResult.ok("x"),
    )
    result: TaskiqResult[Any] = TaskiqResult(is_err=False, return_value=attempt, execution_time=0)
    assert await rec.record(m, result, ack=(stream, msg_id)) is True
    assert await redis.xlen(stream) == 0  # XDEL
    assert (await redis.xpending(stream, CONSUMER_GROUP))["pending"] == 0  # XACK
    assert await redis.xlen(keys.recorder_buffer) == 1
    assert await redis.get(keys.execution_claim("k1", 1)) == "done:wa"
