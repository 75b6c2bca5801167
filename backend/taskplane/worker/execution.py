"""Running one attempt: the TaskIQ task every task type is bound to.

Each registered type becomes the TaskIQ task ``taskplane:{name}`` whose function is
``Executor.run``: it re-validates the parameters (a stale message or an edited config becomes
a recorded failure "invalid parameters: ...", never a crash), applies the timeout from
``limits``, calls the type's function (with a ``TaskContext`` when it asks for one) and
returns an ``Attempt``. It never raises for a task's fault: the recorder middleware turns
the Attempt into the execution record. Messages naming a type this worker does not know
become failed records too (``TaskplaneBroker.find_task``), not silent drops.

The message being run reaches the function through ``CURRENT_MESSAGE`` (set by the
recorder's ``pre_execute``, in the same asyncio task): a parameter named ``context`` must
stay a plain parameter, so TaskIQ's keyword dependency injection is not used.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from taskiq.abc.broker import AsyncBroker
from taskiq.message import TaskiqMessage

from taskplane import messages
from taskplane.enums import Trigger
from taskplane.errors import InvalidInput
from taskplane.messages import RunLabels
from taskplane.resources import Resources
from taskplane.tasks.registry import TaskContext, TaskRegistry, TaskType
from taskplane.tasks.result import ExecutionResult
from taskplane.worker import limits

CURRENT_MESSAGE: contextvars.ContextVar[TaskiqMessage] = contextvars.ContextVar(
    "taskplane_current_message"
)
SKIP_LABEL = "taskplane_skip"
REDELIVERED_LABEL = "taskplane_redelivered"


@dataclass(frozen=True, slots=True)
class Attempt:
    """One finished attempt, as the recorder writes it."""

    task_id: str
    config_id: int
    task_type: str
    trigger: Trigger
    attempt: int
    started_at: datetime
    completed_at: datetime
    duration_seconds: float
    result: ExecutionResult
    is_retryable: bool = True


@dataclass(frozen=True, slots=True)
class Skipped:
    """A delivery that was not run (another delivery of it ran or runs)."""

    reason: str


def type_name_of(message: TaskiqMessage) -> str:
    return RunLabels.of(message).task_type


class Executor:
    """Runs attempts of the registry's types with the process's resources."""

    def __init__(self, registry: TaskRegistry, resources: Resources, worker_id: str) -> None:
        self.registry = registry
        self.resources = resources
        self.worker_id = worker_id

    def bind(self, broker: AsyncBroker) -> None:
        """Register every type as the TaskIQ task ``taskplane:{name}`` on ``broker``."""
        for t in self.registry.all():
            broker.register_task(self._runner(t), task_name=messages.task_name(t.name))

    def _runner(self, task: TaskType | None) -> Callable[..., Any]:
        async def run(*args: Any, **kwargs: Any) -> Attempt | Skipped:
            return await self.run(task, CURRENT_MESSAGE.get())

        return run

    def unknown_runner(self) -> Callable[..., Any]:
        """The function for messages naming a type this worker does not serve."""
        return self._runner(None)

    async def run(self, task: TaskType | None, message: TaskiqMessage) -> Attempt | Skipped:
        labels = message.labels
        skip = labels.get(SKIP_LABEL)
        if skip:
            return Skipped(str(skip))
        started_at = datetime.now(UTC)
        t0 = time.perf_counter()
        is_retryable = True
        if task is None:
            result = ExecutionResult.fail(
                f"task type {type_name_of(message)!r} is not registered on this worker"
            )
            is_retryable = False
        else:
            try:
                params = task.parse(message.kwargs)
            except InvalidInput as exc:
                result = ExecutionResult.fail(f"invalid parameters: {exc}")
                is_retryable = False
            except Exception as exc:  # a validator that raised something else
                result = ExecutionResult.fail(f"invalid parameters: {type(exc).__name__}: {exc}")
                is_retryable = False
            else:
                try:
                    result = await self._call(task, params, message)
                except Exception as exc:
                    # never let an attempt escape unrecorded: an exception here would leave
                    # the message unacknowledged and re-delivered forever
                    result = ExecutionResult.from_exception(exc)
        duration = time.perf_counter() - t0
        run = RunLabels.of(message)
        return Attempt(
            task_id=message.task_id,
            config_id=run.config_id,
            task_type=run.task_type,
            trigger=run.trigger,
            attempt=run.attempt,
            started_at=started_at,
            completed_at=datetime.now(UTC),
            duration_seconds=duration,
            result=result.with_duration(duration),
            is_retryable=is_retryable,
        )

    async def _call(self, task: TaskType, params: Any, message: TaskiqMessage) -> ExecutionResult:
        args: tuple[Any, ...] = (params,)
        if task.wants_context:
            args = (params, self._context(message))
        timeout = limits.timeout_for(message.labels, task)
        try:
            async with asyncio.timeout(timeout) as scope:
                if asyncio.iscoroutinefunction(task.fn):
                    value = await task.fn(*args)
                else:
                    # a sync function runs in a thread; a timeout abandons it (it cannot be
                    # interrupted) but the attempt is recorded as timed out all the same
                    value = await asyncio.to_thread(task.fn, *args)
        except TimeoutError as exc:
            if scope.expired():
                return ExecutionResult.fail(f"timed out after {timeout:g} seconds")
            return ExecutionResult.from_exception(exc)
        except Exception as exc:
            return ExecutionResult.from_exception(exc)
        return ExecutionResult.from_value(value)

    def _context(self, message: TaskiqMessage) -> TaskContext:
        r = self.resources
        run = RunLabels.of(message)
        return TaskContext(
            settings=r.settings,
            sessions=r.sessions,
            redis=r.redis,
            keys=r.keys,
            task_id=message.task_id,
            config_id=run.config_id,
            attempt=run.attempt,
            trigger=run.trigger,
            worker=self.worker_id,
        )
