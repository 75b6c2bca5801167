"""Composing responses from a PostgreSQL row and its Redis state (ScheduleInfo): the
response models read the fields they share with the row and the read model by name."""

from __future__ import annotations

from typing import Any

import pydantic_core
from fastapi import Response
from pydantic import BaseModel

from taskplane.api.schemas.configs import ConfigOut, ConfigScheduleOut, StoredConfigOut
from taskplane.api.schemas.schedules import HistoryEventOut, ScheduleDetail
from taskplane.db.configs import ConfigRow
from taskplane.scheduling.service import ScheduleInfo
from taskplane.state.history import HistoryEvent
from taskplane.tasks import secrets
from taskplane.tasks.registry import TaskRegistry


def config_out(row: ConfigRow, info: ScheduleInfo, registry: TaskRegistry) -> ConfigOut:
    stored = dict(StoredConfigOut.model_validate(row))
    stored["parameters"] = shown_parameters(row.parameters, row.task_type, registry)
    return ConfigOut(**stored, **dict(ConfigScheduleOut.model_validate(info)))


def shown_parameters(parameters: Any, task_type: str, registry: TaskRegistry) -> dict[str, Any]:
    """A config's parameters as every response shows them: secret ones as "***", to every
    role (tasks/secrets.py)."""
    return secrets.masked(parameters, secrets.fields_of(registry, task_type))


def config_fields(row: ConfigRow, info: ScheduleInfo, registry: TaskRegistry) -> dict[str, Any]:
    """``config_out`` as plain values, for reads answered with ``json_response``: a row and
    its read model, without building and re-validating models. Same fields, same order,
    same JSON (tests/api/test_fast_responses.py holds it to that; the stored fields are the
    row's, in its order; secret parameters masked as in ``config_out``)."""
    out = row._asdict()
    out["parameters"] = shown_parameters(out["parameters"], out["task_type"], registry)
    out["schedule_status"] = info.status
    out["is_scheduled"] = info.is_scheduled
    out["status_consistent"] = info.status_consistent
    out["next_run_at"] = info.next_run_at
    out["last_run_at"] = info.last_run_at
    out["last_success"] = info.last_success
    out["schedule"] = info.schedule
    return out


def event_fields(event: HistoryEvent) -> dict[str, Any]:
    return {
        "event": event.event,
        "timestamp": event.timestamp,
        "note": event.note,
        "details": event.details,
        "actor": event.actor,
    }


def json_response(content: Any, status_code: int = 200) -> Response:
    """A JSON body encoded by pydantic's serializer (datetimes, enums, models as the
    response models encode them), past FastAPI's re-validation of the route's model."""
    return Response(
        pydantic_core.to_json(content), status_code=status_code, media_type="application/json"
    )


def event_out(event: HistoryEvent) -> HistoryEventOut:
    return HistoryEventOut.model_validate(event, from_attributes=True)


def schedule_detail(info: ScheduleInfo) -> BaseModel:
    return ScheduleDetail.model_validate(info, from_attributes=True)
