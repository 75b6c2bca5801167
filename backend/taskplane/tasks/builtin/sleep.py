"""``sleep``: sleeps N seconds, for timeout, overlap and load tests."""

from __future__ import annotations

import asyncio

from pydantic import BaseModel, Field

from taskplane.tasks.registry import task_type
from taskplane.tasks.result import ExecutionResult


class SleepParams(BaseModel):
    seconds: float = Field(ge=0, le=86_400, description="how long to sleep")


@task_type("sleep", params=SleepParams)
async def sleep(params: SleepParams) -> ExecutionResult:
    """Sleep for the given number of seconds."""
    await asyncio.sleep(params.seconds)
    return ExecutionResult.ok({"slept_seconds": params.seconds})
