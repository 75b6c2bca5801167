"""Composing responses from a PostgreSQL row and its Redis state (ScheduleInfo): the
response models read the fields they share with the row and the read model by name."""

from __future__ import annotations

from taskplane.api.schemas.configs import ConfigOut, StoredConfigOut
from taskplane.api.schemas.schedules import HistoryEventOut, ScheduleDetail
from taskplane.db.models import TaskConfig
from taskplane.scheduling.service import ScheduleInfo
from taskplane.state.schedule_state import HistoryEvent


def config_out(row: TaskConfig, info: ScheduleInfo) -> ConfigOut:
    return ConfigOut(
        **dict(StoredConfigOut.model_validate(row)),
        schedule_status=info.status,
        is_scheduled=info.is_scheduled,
        status_consistent=info.status_consistent,
        next_run_at=info.next_run_at,
        last_run_at=info.last_run_at,
        last_success=info.last_success,
        schedule=info.schedule,
    )


def event_out(event: HistoryEvent) -> HistoryEventOut:
    return HistoryEventOut.model_validate(event, from_attributes=True)


def schedule_detail(info: ScheduleInfo) -> ScheduleDetail:
    return ScheduleDetail.model_validate(info, from_attributes=True)
