"""``cleanup_executions``: retention; deletes execution records older than N days in
committed batches and returns how many it deleted."""

from __future__ import annotations

from pydantic import BaseModel, Field

from taskplane.db import executions
from taskplane.tasks.registry import TaskContext, task_type
from taskplane.tasks.result import ExecutionResult


class CleanupParams(BaseModel):
    older_than_days: int = Field(ge=0, le=36_500, description="delete records older than this")
    batch_size: int = Field(default=1000, ge=1, le=100_000, description="rows per transaction")


@task_type("cleanup_executions", params=CleanupParams, timeout_seconds=3600)
async def cleanup_executions(params: CleanupParams, context: TaskContext) -> ExecutionResult:
    """Delete execution records older than N days, in batches; returns the count."""
    deleted = await executions.purge_older_than(
        context.sessions, days=params.older_than_days, batch_size=params.batch_size
    )
    return ExecutionResult.ok({"deleted": deleted}, message=f"deleted {deleted} execution records")
