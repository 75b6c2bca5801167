"""The public surface for task authors is exactly what ``__all__`` lists."""

from __future__ import annotations

import taskplane
from taskplane.tasks.registry import TaskContext, task_type
from taskplane.tasks.result import ExecutionResult


def test_exported_members() -> None:
    assert sorted(taskplane.__all__) == [
        "ExecutionResult",
        "TaskContext",
        "__version__",
        "task_type",
    ]
    assert taskplane.task_type is task_type
    assert taskplane.ExecutionResult is ExecutionResult
    assert taskplane.TaskContext is TaskContext
    for name in taskplane.__all__:
        assert hasattr(taskplane, name)
