"""Composing responses from a PostgreSQL row and its Redis state (ScheduleInfo): the
response models read the fields they share with the row and the read model by name."""

from __future__ import annotations

from pydantic import BaseModel

from taskplane.api.schemas.configs import ConfigOut, ConfigScheduleOut, StoredConfigOut
from taskplane.api.schemas.schedules import HistoryEventOut, ScheduleDetail
from taskplane.db.models import TaskConfig
from taskplane.scheduling.service import ScheduleInfo
from taskplane.state.schedule_state import HistoryEvent


def config_out(row: TaskConfig, info: ScheduleInfo) -> ConfigOut:
    return ConfigOut(
        **dict(StoredConfigOut.model_validate(row)),
        **dict(ConfigScheduleOut.model_validate(info)),
    )


def event_out(event: HistoryEvent) -> HistoryEventOut:
    return HistoryEventOut.model_validate(event, from_attributes=True)


def schedule_detail(info: ScheduleInfo) -> BaseModel:
    return ScheduleDetail.model_validate(info, from_attributes=True)
