"""Timeouts, retry decisions, backoff and the retry pump (real Redis)."""

from __future__ import annotations

import asyncio
import json
import random
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis

from taskplane import messages
from taskplane.enums import Trigger
from taskplane.state.keys import Keys
from taskplane.tasks.registry import TaskType
from taskplane.worker import limits
from taskplane.worker.limits import RetryPump
from tests.support import stream_entries
from tests.tasks.fixtures.extra_types import AddParams, add


def _type(timeout: int | None = None, retries: int = 0) -> TaskType:
    return TaskType(
        name="t", params_model=AddParams, fn=add, timeout_seconds=timeout, max_retries=retries
    )


@pytest.mark.parametrize(
    ("labels", "task", "expected"),
    [
        ({"timeout_seconds": 5}, _type(60), 5.0),
        ({}, _type(60), 60.0),
        ({}, _type(None), None),
        ({"timeout_seconds": 0}, _type(7), 7.0),
        ({"timeout_seconds": "x"}, None, None),
    ],
)
def test_timeout_is_the_label_else_the_type_default(
    labels: dict[str, object], task: TaskType | None, expected: float | None
) -> None:
    assert limits.timeout_for(labels, task) == expected


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({"attempt": 1, "max_retries": 0}, False),
        ({"attempt": 1, "max_retries": 2}, True),
        ({"attempt": 2, "max_retries": 2}, True),
        ({"attempt": 3, "max_retries": 2}, False),
        ({}, False),
    ],
)
def test_retry_while_attempt_is_at_most_max_retries(
    labels: dict[str, object], expected: bool
) -> None:
    assert limits.should_retry(labels, None) is expected


def test_backoff_doubles_with_jitter_and_is_capped() -> None:
    rng = random.Random(7)
    for attempt, full in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (10, 30.0)]:
        for _ in range(50):
            d = limits.backoff_seconds(attempt, base=1.0, cap=30.0, rng=rng)
            assert full / 2 <= d <= full
    spread = {round(limits.backoff_seconds(3, base=1.0, cap=30.0), 6) for _ in range(20)}
    assert len(spread) > 1


def test_retry_message_keeps_the_task_id_and_increments_the_attempt() -> None:
    due = datetime(2026, 1, 1, 12, tzinfo=UTC)
    first = messages.build(
        config_id=7,
        task_type="echo",
        queue="q",
        parameters={"message": "m"},
        trigger=Trigger.SCHEDULED,
        max_retries=3,
        timeout_seconds=9,
        priority=4,
        due_at=due,
        task_id="7-1767268800000",
    )
    nxt = limits.retry_message(messages.decode(first.body), None)
    decoded = messages.decode(nxt.body)
    assert nxt.task_id == "7-1767268800000" and nxt.queue == "q"
    assert decoded.kwargs == {"message": "m"}
    assert decoded.labels == {
        "config_id": 7,
        "task_type": "echo",
        "trigger": "scheduled",
        "attempt": 2,
        "max_retries": 3,
        "timeout_seconds": 9,
        "priority": 4,
        "queue": "q",
        "due_at": due.isoformat(),
    }


async def test_pump_sends_due_retries_once_even_with_concurrent_pumps(
    redis: Redis, keys: Keys
) -> None:
    outs = [
        messages.build(
            config_id=1,
            task_type="echo",
            queue="default",
            parameters={"message": str(i)},
            trigger=Trigger.MANUAL,
            attempt=2,
        )
        for i in range(50)
    ]
    later = messages.build(
        config_id=1,
        task_type="echo",
        queue="default",
        parameters={"message": "later"},
        trigger=Trigger.MANUAL,
        attempt=2,
    )
    await redis.zadd(keys.retry_delayed, {limits.delayed_member(o): 1000 for o in outs})
    await redis.zadd(keys.retry_delayed, {limits.delayed_member(later): 10_000})
    pumps = [RetryPump(redis, keys) for _ in range(4)]
    sent = await asyncio.gather(*(p.pump_once(now_ms=5000) for p in pumps))
    assert sum(sent) == 50
    entries = await stream_entries(redis, keys.broker_stream("default"))
    bodies = sorted(json.loads(fields["data"])["kwargs"]["message"] for _, fields in entries)
    assert bodies == sorted(str(i) for i in range(50))
    assert await redis.zcard(keys.retry_delayed) == 1
    assert await pumps[0].pump_once(now_ms=10_000) == 1


def test_retry_message_drops_an_unreadable_timeout_label() -> None:
    first = messages.build(
        config_id=1,
        task_type="echo",
        queue="default",
        parameters={},
        trigger=Trigger.MANUAL,
    )
    m = messages.decode(first.body)
    m.labels["timeout_seconds"] = "soon"
    assert "timeout_seconds" not in messages.decode(limits.retry_message(m, None).body).labels
    m.labels["timeout_seconds"] = "2.5"
    assert messages.decode(limits.retry_message(m, None).body).labels["timeout_seconds"] == 2
