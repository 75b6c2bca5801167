"""Config bodies and the config response (PostgreSQL row + Redis state)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator

from taskplane.alerts.incidents import FAILURES_IN_ROW_RANGE, LATE_AFTER_RANGE
from taskplane.api.schemas.executions import ExecutionStatsOut
from taskplane.api.schemas.inputs import JsonObject, RequestModel, SafeStr
from taskplane.api.schemas.schedules import HistoryEventOut
from taskplane.enums import SchedulerType, ScheduleStatus

Name = Annotated[SafeStr, Field(min_length=1, max_length=128)]
Description = Annotated[SafeStr, Field(max_length=2000)]
TaskTypeName = Annotated[SafeStr, Field(min_length=1, max_length=128)]
MaxRetries = Annotated[int, Field(ge=0, le=20)]
Timeout = Annotated[int, Field(ge=1, le=86400)]
Priority = Annotated[int, Field(ge=0, le=9)]
LateAfter = Annotated[int, Field(ge=LATE_AFTER_RANGE[0], le=LATE_AFTER_RANGE[1])]
FailuresInRow = Annotated[int, Field(ge=FAILURES_IN_ROW_RANGE[0], le=FAILURES_IN_ROW_RANGE[1])]


class AlertsIn(RequestModel):
    """A config's alerts (API.md, Alerts): each null (the default) raises no alert."""

    late_after_seconds: LateAfter | None = Field(
        default=None,
        description="a due time not started this many seconds after it is a `late` incident",
    )
    failures_in_row: FailuresInRow | None = Field(
        default=None, description="this many failed runs in a row is a `failing` incident"
    )

    def stored(self) -> dict[str, Any] | None:
        """As the config row stores it: None when no alert is set."""
        if self.late_after_seconds is None and self.failures_in_row is None:
            return None
        return {
            "late_after_seconds": self.late_after_seconds,
            "failures_in_row": self.failures_in_row,
        }


class AlertsOut(BaseModel):
    late_after_seconds: int | None = None
    failures_in_row: int | None = None


class ConfigCreate(RequestModel):
    name: Name
    description: Description | None = None
    task_type: TaskTypeName
    scheduler_type: SchedulerType
    schedule_config: JsonObject = Field(default_factory=dict)
    parameters: JsonObject = Field(default_factory=dict)
    # left out (or null): the task type's own (``@task_type(max_retries=...)``), else 0 / none
    max_retries: MaxRetries | None = None
    timeout_seconds: Timeout | None = None
    priority: Priority | None = None
    alerts: AlertsIn | None = None

    def fields(self) -> dict[str, Any]:
        """The config's fields as the service takes them (``alerts`` as stored)."""
        values = self.model_dump(exclude={"alerts"})
        values["alerts"] = self.alerts.stored() if self.alerts is not None else None
        return values


NULLABLE = frozenset({"description", "timeout_seconds", "alerts"})


class ConfigUpdate(RequestModel):
    """Any subset of the create fields; only ``description``, ``timeout_seconds`` and
    ``alerts`` may be set to null."""

    name: Name | None = None
    description: Description | None = None
    task_type: TaskTypeName | None = None
    scheduler_type: SchedulerType | None = None
    schedule_config: JsonObject | None = None
    parameters: JsonObject | None = None
    max_retries: MaxRetries | None = None
    timeout_seconds: Timeout | None = None
    priority: Priority | None = None
    alerts: AlertsIn | None = None

    @model_validator(mode="after")
    def _no_null_for_required(self) -> ConfigUpdate:
        for field in self.model_fields_set - NULLABLE:
            if getattr(self, field) is None:
                raise ValueError(f"{field} may not be null")
        return self

    def changes(self) -> dict[str, Any]:
        changes = {field: getattr(self, field) for field in self.model_fields_set}
        if "alerts" in changes:
            changes["alerts"] = self.alerts.stored() if self.alerts is not None else None
        return changes


class StoredConfigOut(BaseModel):
    # the stored row as every config response shows it (read from the row's attributes)
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    description: str | None
    task_type: str
    scheduler_type: SchedulerType
    schedule_config: dict[str, Any]
    parameters: dict[str, Any]
    max_retries: int
    timeout_seconds: int | None
    priority: int
    created_at: datetime
    updated_at: datetime
    alerts: AlertsOut | None = None


class ConfigScheduleOut(BaseModel):
    # what a config response shows of its schedule, read from the read model
    # (``ScheduleInfo``) by name; its ``status`` is the response's ``schedule_status``
    model_config = ConfigDict(from_attributes=True)

    schedule_status: ScheduleStatus = Field(
        validation_alias=AliasChoices("schedule_status", "status")
    )
    is_scheduled: bool
    status_consistent: bool
    next_run_at: datetime | None
    last_run_at: datetime | None
    last_success: bool | None
    schedule: str | None = None


class ConfigOut(ConfigScheduleOut, StoredConfigOut):
    # the stored row's fields, then the schedule's: pydantic puts the last base's first
    pass


RunSettingSource = Literal["config", "task_type", "default"]


class ConfigCreated(ConfigOut):
    # the create response: where each effective run setting came from
    run_settings_source: dict[str, RunSettingSource] = Field(
        description="per run setting (max_retries, timeout_seconds, priority): 'config' (in "
        "the request), 'task_type' (the type's declared default) or 'default'"
    )


class ConfigDetail(ConfigOut):
    recent_history: list[HistoryEventOut]
    stats: ExecutionStatsOut | None = None
