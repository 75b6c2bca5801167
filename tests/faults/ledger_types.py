"""A task type for the whole-stack fault tests, loaded through TASKPLANE_TASK_MODULES: every
execution that starts appends its task id and attempt to a file, so a test counts from
outside the product how often each task id (and so each due time) really ran."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pydantic import BaseModel

from taskplane import ExecutionResult, task_type
from taskplane.tasks.registry import TaskContext

MODULE = "tests.faults.ledger_types"


class LedgerParams(BaseModel):
    path: str  # the test's ledger file: one line "<task id> <attempt>" per execution started
    seconds: float = 0.0


@task_type("fault_ledger", params=LedgerParams, timeout_seconds=120)
async def ledger(params: LedgerParams, context: TaskContext) -> ExecutionResult:
    line = f"{context.task_id} {context.attempt}\n"

    def append() -> None:
        with open(params.path, "a") as out:  # O_APPEND: concurrent lines stay whole
            out.write(line)

    await asyncio.to_thread(append)
    await asyncio.sleep(params.seconds)
    return ExecutionResult.ok({"task_id": context.task_id})


def read(path: Path) -> list[tuple[str, int]]:
    """The (task id, attempt) of every execution that started, in order."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        task_id, attempt = line.rsplit(" ", 1)
        out.append((task_id, int(attempt)))
    return out
