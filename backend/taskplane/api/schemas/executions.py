"""Execution records and their statistics."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from taskplane.enums import Trigger


class ExecutionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    config_id: int
    task_id: str
    task_type: str
    trigger: Trigger
    is_success: bool
    attempt: int
    started_at: datetime
    completed_at: datetime
    duration_seconds: float
    result: dict[str, Any] | None
    error_message: str | None
    traceback: str | None = None
    worker: str | None


class ExecutionStatsOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    total: int
    succeeded: int
    failed: int
    success_rate: float | None
    avg_duration_seconds: float | None
    p95_duration_seconds: float | None
    last_run_at: datetime | None


class CleanupOut(BaseModel):
    deleted: int


class BucketOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    start: datetime
    ok: int
    failed: int


class HistogramOut(BaseModel):
    """Executions started in ``[since, until)`` per bucket and outcome, every bucket listed."""

    model_config = ConfigDict(from_attributes=True)

    since: datetime
    until: datetime
    bucket_seconds: int
    total: int
    failed: int
    buckets: list[BucketOut]


class RunningOut(BaseModel):
    """An attempt running now (``attempt``, ``started_at``, ``trigger``, ``worker``: null
    when the worker that claimed it did not say)."""

    model_config = ConfigDict(from_attributes=True)

    config_id: int
    task_id: str
    attempt: int | None
    started_at: datetime | None
    trigger: str | None
    worker: str | None


class RunningListOut(BaseModel):
    """The attempts running now, newest first, at most ``limit``."""

    items: list[RunningOut]
