"""Put execution records in the recorder's buffer the way a worker does while PostgreSQL is
down: the recorder claims the attempt and finishes it (its own Lua script XADDs the record);
no flusher runs, so the record stays buffered."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis
from taskiq.result import TaskiqResult

from taskplane import messages
from taskplane.enums import Trigger
from taskplane.settings import Settings
from taskplane.state.keys import Keys
from taskplane.tasks.registry import TaskRegistry
from taskplane.tasks.result import ExecutionResult
from taskplane.worker.execution import Attempt
from taskplane.worker.recorder import ExecutionRecorder


async def buffer_records(
    redis: Redis, keys: Keys, settings: Settings, task_ids: list[str], config_id: int = 1
) -> None:
    recorder = ExecutionRecorder(redis, keys, settings, TaskRegistry(), "w-buffered")
    now = datetime.now(UTC)
    for task_id in task_ids:
        sent = messages.build(
            config_id=config_id,
            task_type="echo",
            queue="default",
            parameters={"message": "x"},
            trigger=Trigger.MANUAL,
            task_id=task_id,
        )
        message = await recorder.pre_execute(messages.decode(sent.body))
        attempt = Attempt(
            task_id=task_id,
            config_id=config_id,
            task_type="echo",
            trigger=Trigger.MANUAL,
            attempt=1,
            started_at=now,
            completed_at=now,
            duration_seconds=0.0,
            result=ExecutionResult.ok("x"),
        )
        result: TaskiqResult[Any] = TaskiqResult(
            is_err=False, return_value=attempt, execution_time=0.0
        )
        await recorder.post_execute(message, result)
