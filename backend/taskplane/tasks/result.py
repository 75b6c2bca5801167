"""ExecutionResult: what one attempt of a task produced, stored on its execution record.

A task function may return an ``ExecutionResult`` (success or failure, its choice), or any
other value, which becomes a success with that value as ``data``. A raised exception becomes
a failure with the error and a bounded traceback (``from_exception``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from pydantic_core import to_jsonable_python

from taskplane.tasks.tracebacks import format_frames

MAX_ERROR_CHARS = 2000
MAX_TRACEBACK_CHARS = 8000


def bounded(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters: its start and its end (where the cause
    usually is), with a marker where the middle was."""
    if len(text) <= limit:
        return text
    marker = "\n...\n"
    head = (limit - len(marker)) // 3
    tail = limit - len(marker) - head
    return text[:head] + marker + text[-tail:]


def jsonable(value: Any) -> Any:
    """``value`` as JSON-compatible data; anything unknown becomes its repr."""
    return to_jsonable_python(value, fallback=repr)


@dataclass(frozen=True, slots=True)
class ExecutionResult:
    """The outcome of one attempt: success, message, data, error, duration, metadata.

    ``traceback`` is kept apart from the dict form: it goes to its own column of the record.
    """

    success: bool
    message: str | None = None
    data: Any = None
    error: str | None = None
    duration_seconds: float | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    traceback: str | None = None

    @classmethod
    def ok(
        cls, data: Any = None, *, message: str | None = None, metadata: dict[str, Any] | None = None
    ) -> ExecutionResult:
        """A success carrying ``data`` (JSON-compatible; other values become their repr)."""
        return cls(success=True, message=message, data=jsonable(data), metadata=metadata or {})

    @classmethod
    def fail(
        cls,
        error: str,
        *,
        data: Any = None,
        message: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        """A failure with its error message (bounded)."""
        return cls(
            success=False,
            message=message,
            data=jsonable(data),
            error=bounded(error, MAX_ERROR_CHARS),
            metadata=metadata or {},
        )

    @classmethod
    def from_value(cls, value: Any) -> ExecutionResult:
        """What a task function returned: an ExecutionResult as is, anything else a success."""
        if isinstance(value, ExecutionResult):
            return value
        return cls.ok(value)

    @classmethod
    def from_exception(cls, exc: BaseException) -> ExecutionResult:
        """A failure from a raised exception: ``Type: message`` and a bounded traceback."""
        text = str(exc)
        error = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
        # frames, then the (already bounded) error line: a huge message cannot push the
        # frames out of the bounded traceback
        frames = format_frames(exc.__traceback__)  # no absolute install paths
        trace = f"Traceback (most recent call last):\n{frames}{bounded(error, MAX_ERROR_CHARS)}\n"
        return cls(
            success=False,
            error=bounded(error, MAX_ERROR_CHARS),
            traceback=bounded(trace, MAX_TRACEBACK_CHARS),
        )

    def with_duration(self, duration_seconds: float) -> ExecutionResult:
        return replace(self, duration_seconds=duration_seconds)

    def to_dict(self) -> dict[str, Any]:
        """The dict stored in the record's ``result`` column (JSON-compatible)."""
        return {
            "success": self.success,
            "message": self.message,
            "data": jsonable(self.data),
            "error": self.error,
            "duration_seconds": self.duration_seconds,
            "metadata": jsonable(self.metadata),
        }
