"""taskplane: an async task platform on TaskIQ with Redis-held schedule state.

The public surface for task authors: ``task_type`` (the decorator), ``ExecutionResult`` (what a
task returns) and ``TaskContext`` (what a task that asks for it gets as its second parameter).
"""

from taskplane.tasks.registry import TaskContext, task_type
from taskplane.tasks.result import ExecutionResult

__version__ = "0.1.0"

__all__ = ["ExecutionResult", "TaskContext", "__version__", "task_type"]
