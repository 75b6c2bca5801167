"""Health, status, enums and the dashboard summary."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from taskplane.api.schemas.executions import ExecutionOut


class ComponentHealth(BaseModel):
    model_config = ConfigDict(extra="allow")

    ok: bool
    error: str | None = None
    # when it went down (null while ok, or when nobody knows): for a store, the first
    # failed check of this api process since the last good one; for the scheduler and the
    # workers, the last sign of life (newest heartbeat, or the last withdrawal)
    down_since: datetime | None = None


class StoreHealth(ComponentHealth):
    latency_ms: float | None = None


class LastExit(BaseModel):
    id: str
    exited_at: datetime
    reason: str


class HeartbeatHealth(ComponentHealth):
    alive: int = 0
    heartbeat_age_seconds: float | None = None
    stale_after_seconds: float
    # the last instance that withdrew its heartbeat (stopped, or failed: why)
    last_exit: LastExit | None = None


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    database: StoreHealth
    redis: StoreHealth
    scheduler: HeartbeatHealth
    workers: HeartbeatHealth
    down: list[str] = []  # the components that are not ok, e.g. ["workers"]


class Counts(BaseModel):
    configs: int
    executions: int


class SchedulerInstance(BaseModel):
    id: str
    heartbeat_at: datetime | None
    is_leader: bool


class SchedulerStatus(BaseModel):
    leader: str | None
    heartbeat_at: datetime | None
    instances: list[SchedulerInstance]


class WorkerStatus(BaseModel):
    id: str
    heartbeat_at: datetime | None
    queues: list[str]


class SystemStatus(BaseModel):
    version: str
    uptime_seconds: float
    counts: Counts
    scheduler: SchedulerStatus
    workers: list[WorkerStatus]


class Enums(BaseModel):
    scheduler_types: list[str]
    schedule_statuses: list[str]
    actions: list[str]
    triggers: list[str]
    roles: list[str]
    task_types: list[str]


class ScheduleCounts(BaseModel):
    total: int
    active: int
    paused: int
    inactive: int
    error: int


class Executions24h(BaseModel):
    total: int
    failed: int
    success_rate: float | None


class NextFire(BaseModel):
    config_id: int
    name: str
    next_run_at: datetime


class Dashboard(BaseModel):
    schedules: ScheduleCounts
    executions_24h: Executions24h
    recent_failures: list[ExecutionOut]
    next_fires: list[NextFire]
