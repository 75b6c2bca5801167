"""GET /executions/running: the attempts running now, as the worker's recorder claims and
finishes them (its own scripts), from the running index (no key scans)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
from redis.asyncio import Redis
from taskiq.message import TaskiqMessage
from taskiq.result import TaskiqResult

from taskplane import messages
from taskplane.enums import Trigger
from taskplane.settings import Settings
from taskplane.state import running
from taskplane.state.keys import Keys
from taskplane.tasks.registry import TaskRegistry
from taskplane.tasks.result import ExecutionResult
from taskplane.worker.execution import Attempt
from taskplane.worker.recorder import ExecutionRecorder


def _message(config_id: int, task_id: str, trigger: Trigger) -> TaskiqMessage:
    out = messages.build(
        config_id=config_id,
        task_type="echo",
        queue="default",
        parameters={"message": "x"},
        trigger=trigger,
        task_id=task_id,
    )
    return messages.decode(out.body)


def _finished(message: TaskiqMessage) -> TaskiqResult[Any]:
    now = datetime.now(UTC)
    attempt = Attempt(
        task_id=message.task_id,
        config_id=int(message.labels["config_id"]),
        task_type="echo",
        trigger=Trigger.MANUAL,
        attempt=1,
        started_at=now,
        completed_at=now,
        duration_seconds=0.0,
        result=ExecutionResult.ok("x"),
    )
    return TaskiqResult(is_err=False, return_value=attempt, execution_time=0.0)


async def _running(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    response = await client.get("/executions/running", params=params)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_claimed_attempts_are_listed_until_they_finish(
    client: httpx.AsyncClient,
    viewer: httpx.AsyncClient,
    redis: Redis,
    keys: Keys,
    settings: Settings,
) -> None:
    assert await _running(viewer) == []
    worker = ExecutionRecorder(redis, keys, settings, TaskRegistry(), "w-one")
    a = await worker.pre_execute(_message(5, "a", Trigger.SCHEDULED))
    await worker.pre_execute(_message(5, "b", Trigger.MANUAL))
    c = await worker.pre_execute(_message(6, "c", Trigger.BATCH))

    listed = await _running(viewer)
    # newest first, with what the claim knew
    assert [x["task_id"] for x in listed] == ["c", "b", "a"]
    first = listed[-1]
    assert first["config_id"] == 5
    assert first["attempt"] == 1
    assert first["trigger"] == "scheduled"
    assert first["worker"] == "w-one"
    assert datetime.fromisoformat(first["started_at"]) <= datetime.now(UTC)
    assert [x["task_id"] for x in await _running(viewer, config_id=5)] == ["b", "a"]
    assert [x["task_id"] for x in await _running(viewer, config_id=6)] == ["c"]
    assert await _running(viewer, config_id=7) == []
    assert [x["task_id"] for x in await _running(viewer, limit=1)] == ["c"]

    # finished: recorded, so gone from the running list (and from the index)
    await worker.post_execute(a, _finished(a))
    assert [x["task_id"] for x in await _running(client)] == ["c", "b"]
    assert [x["task_id"] for x in await _running(client, config_id=5)] == ["b"]
    # a run that broke (no record) leaves too
    await running.remove(redis, keys, 5, "b")
    assert [x["task_id"] for x in await _running(client)] == ["c"]
    assert set(await redis.hkeys(keys.running_runs)) == {"c"}
    await worker.post_execute(c, _finished(c))
    assert await _running(client) == []
    assert not await redis.exists(keys.running_runs)


async def test_a_dead_workers_attempts_leave_the_list_with_their_set(
    client: httpx.AsyncClient, redis: Redis, keys: Keys, settings: Settings
) -> None:
    worker = ExecutionRecorder(redis, keys, settings, TaskRegistry(), "w-dead")
    await worker.pre_execute(_message(8, "lost", Trigger.MANUAL))
    await worker.pre_execute(_message(9, "alive", Trigger.MANUAL))
    assert {x["task_id"] for x in await _running(client)} == {"lost", "alive"}
    # the worker died: nothing renewed config 8's running set, its TTL ran out
    await redis.delete(keys.running(8))
    assert [x["task_id"] for x in await _running(client)] == ["alive"]
    assert await _running(client, config_id=8) == []
    # and the stale index entry is dropped, so it costs nothing next time
    assert set(await redis.hkeys(keys.running_runs)) == {"alive"}


async def test_the_index_has_the_running_ttl_and_the_heartbeat_renews_it(
    redis: Redis, keys: Keys, settings: Settings
) -> None:
    worker = ExecutionRecorder(redis, keys, settings, TaskRegistry(), "w-ttl")
    await worker.pre_execute(_message(3, "t", Trigger.MANUAL))
    assert 0 < await redis.ttl(keys.running_runs) <= worker.running_ttl_seconds
    await redis.expire(keys.running_runs, 5)
    await worker.renew_running()
    assert await redis.ttl(keys.running_runs) > 5


async def test_bad_query_is_422_naming_the_field(client: httpx.AsyncClient) -> None:
    for params, field in [
        ({"config_id": "0"}, "config_id"),
        ({"config_id": "abc"}, "config_id"),
        ({"config_id": "-4"}, "config_id"),
        ({"limit": "0"}, "limit"),
        ({"limit": "501"}, "limit"),
    ]:
        response = await client.get("/executions/running", params=params)
        assert response.status_code == 422, (params, response.text)
        assert field in response.text, (params, response.text)
