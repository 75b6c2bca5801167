"""``echo``: returns its message; ``fail: true`` raises it, for smoke tests of a deployment."""

from __future__ import annotations

from pydantic import BaseModel, Field

from taskplane.tasks.registry import task_type
from taskplane.tasks.result import ExecutionResult


class EchoFailure(Exception):
    """Raised on purpose by ``echo`` with ``fail: true``."""


class EchoParams(BaseModel):
    message: str = Field(max_length=10_000, description="returned as the result's data")
    fail: bool = Field(default=False, description="raise the message instead of returning it")


@task_type("echo", params=EchoParams, timeout_seconds=60)
async def echo(params: EchoParams) -> ExecutionResult:
    """Return the message as the result's data; with fail=true, fail with it."""
    if params.fail:
        raise EchoFailure(params.message)
    return ExecutionResult.ok(params.message, message="echoed")
