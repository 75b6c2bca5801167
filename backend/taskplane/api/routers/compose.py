"""Composing responses from a PostgreSQL row and its Redis state (ScheduleInfo)."""

from __future__ import annotations

from taskplane.api.schemas.configs import ConfigOut
from taskplane.api.schemas.schedules import HistoryEventOut, ScheduleDetail
from taskplane.db.models import TaskConfig
from taskplane.scheduling.service import ScheduleInfo
from taskplane.state.schedule_state import HistoryEvent


def config_out(row: TaskConfig, info: ScheduleInfo) -> ConfigOut:
    return ConfigOut(
        id=row.id,
        name=row.name,
        description=row.description,
        task_type=row.task_type,
        scheduler_type=row.scheduler_type,
        schedule_config=row.schedule_config,
        parameters=row.parameters,
        max_retries=row.max_retries,
        timeout_seconds=row.timeout_seconds,
        priority=row.priority,
        created_at=row.created_at,
        updated_at=row.updated_at,
        schedule_status=info.status,
        is_scheduled=info.is_scheduled,
        status_consistent=info.status_consistent,
        next_run_at=info.next_run_at,
        last_run_at=info.last_run_at,
        last_success=info.last_success,
        schedule=info.schedule,
    )


def event_out(event: HistoryEvent) -> HistoryEventOut:
    return HistoryEventOut(
        event=event.event, timestamp=event.timestamp, note=event.note, details=event.details
    )


def schedule_detail(info: ScheduleInfo) -> ScheduleDetail:
    return ScheduleDetail(
        config_id=info.config_id,
        status=info.status,
        note=info.note,
        metadata=info.metadata,
        recent_history=[event_out(e) for e in info.recent_history],
        is_scheduled=info.is_scheduled,
        is_actually_scheduled=info.is_actually_scheduled,
        status_consistent=info.status_consistent,
        next_run_at=info.next_run_at,
        next_runs=info.next_runs,
        schedule=info.schedule,
        status_at=info.status_at,
        runs=info.runs,
        successes=info.successes,
        failures=info.failures,
        consecutive_failures=info.consecutive_failures,
        last_run_at=info.last_run_at,
        last_success=info.last_success,
    )
