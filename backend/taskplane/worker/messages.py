"""The broker message contract, and the fast path that puts messages on the broker.

Every producer (run now, batch run, the scheduler engine, retries) builds its messages here,
so the worker sees one shape. A message is a TaskIQ ``TaskiqMessage`` serialized as JSON (the
same bytes taskiq-redis's ``RedisStreamBroker.kick`` writes), appended to the stream of the
task type's queue: ``Keys.broker_stream(queue)``. Sends are pipelined XADDs: one round trip
for a whole batch.

Labels (all JSON scalars):
    config_id        int   the config this run belongs to
    task_type        str   registered task-type name
    trigger          str   scheduled / manual / batch / immediate
    attempt          int   1 for the first attempt; a retry re-sends with attempt + 1
    max_retries      int   from the config
    timeout_seconds  int   from the config (absent: the type's default)
    priority         int   0..9
    queue            str   the task type's queue
    due_at           str   ISO instant the fire was due (scheduled / immediate only)
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from redis.asyncio import Redis
from taskiq.message import TaskiqMessage

from taskplane.enums import Trigger
from taskplane.state.keys import Keys

TASK_NAME_PREFIX = "taskplane:"


def task_name(task_type: str) -> str:
    """The TaskIQ task name a task type is registered under."""
    return f"{TASK_NAME_PREFIX}{task_type}"


def new_task_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message to send: the stream it goes to and its encoded body."""

    queue: str
    task_id: str
    body: bytes


def build(
    *,
    config_id: int,
    task_type: str,
    queue: str,
    parameters: Mapping[str, Any],
    trigger: Trigger,
    max_retries: int = 0,
    timeout_seconds: int | None = None,
    priority: int = 0,
    attempt: int = 1,
    due_at: datetime | None = None,
    task_id: str | None = None,
) -> Outgoing:
    labels: dict[str, Any] = {
        "config_id": config_id,
        "task_type": task_type,
        "trigger": str(trigger),
        "attempt": attempt,
        "max_retries": max_retries,
        "priority": priority,
        "queue": queue,
    }
    if timeout_seconds is not None:
        labels["timeout_seconds"] = timeout_seconds
    if due_at is not None:
        labels["due_at"] = due_at.isoformat()
    message = TaskiqMessage(
        task_id=task_id or new_task_id(),
        task_name=task_name(task_type),
        labels=labels,
        args=[],
        kwargs=dict(parameters),
    )
    return Outgoing(queue=queue, task_id=message.task_id, body=encode(message))


def encode(message: TaskiqMessage) -> bytes:
    return json.dumps(message.model_dump(mode="json"), separators=(",", ":")).encode()


def decode(body: bytes | str) -> TaskiqMessage:
    return TaskiqMessage.model_validate_json(body)


async def send_many(redis: Redis, keys: Keys, messages: Sequence[Outgoing]) -> list[str]:
    """Append every message to its queue's stream in one pipeline; returns the task ids.

    MULTI/EXEC: either the whole batch is on the broker or none of it is.
    """
    if not messages:
        return []
    async with redis.pipeline(transaction=True) as pipe:
        for m in messages:
            pipe.xadd(keys.broker_stream(m.queue), {"data": m.body})
        await pipe.execute()
    return [m.task_id for m in messages]
