"""Schedule control, listing, summary, detail and history."""

from __future__ import annotations

import dataclasses
import typing
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, Field, create_model

from taskplane.api.schemas.executions import ExecutionOut
from taskplane.api.schemas.inputs import (
    DUPLICATES_DESCRIPTION,
    ConfigIdsBody,
    Instant,
    JsonObject,
    RequestModel,
    SafeStr,
)
from taskplane.enums import SchedulerType, ScheduleStatus
from taskplane.scheduling.info import ScheduleInfo

UNTIL_DESCRIPTION = (
    "pause only: the pause ends by itself at this ISO time (a `resumed` event, actor "
    "scheduler), unless a resume or stop comes first; in the future, at most a year ahead"
)


class ActionBody(RequestModel):
    note: Annotated[SafeStr, Field(max_length=2000)] | None = None
    until: Instant | None = Field(default=None, description=UNTIL_DESCRIPTION)


class ActionOut(BaseModel):
    config_id: int
    action: str
    success: bool
    status: ScheduleStatus
    message: str


class HistoryEventOut(BaseModel):
    event: str
    timestamp: datetime
    note: str | None
    details: dict[str, Any]
    actor: str | None = Field(
        default=None,
        description="who caused it: an API token's name ('admin' for the settings' admin "
        "token), 'cli', 'scheduler', 'worker' or 'reconcile'; null for events older than it",
    )


class ScheduleListItem(BaseModel):
    config_id: int
    name: str
    task_type: str
    schedule_status: ScheduleStatus
    schedule: str | None = Field(
        description="the schedule in words, for every status: the registered cron / interval "
        "/ time while registered, else the configured one ('manual' for a manual config); "
        "null only when the stored config no longer reads as a schedule"
    )
    next_run_at: datetime | None


class ScheduleSummary(BaseModel):
    total: int
    active: int
    paused: int
    inactive: int
    error: int


def _mirrored(
    source: type, *, drop: frozenset[str] = frozenset(), types: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The fields of an internal dataclass as pydantic field definitions, in its order and
    with its defaults: a response type derived from the read model, not written again."""
    hints = typing.get_type_hints(source)
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(source):
        if f.name in drop:
            continue
        kind = (types or {}).get(f.name, hints[f.name])
        if f.default is not dataclasses.MISSING:
            fields[f.name] = (kind, f.default)
        elif f.default_factory is not dataclasses.MISSING:
            fields[f.name] = (kind, Field(default_factory=f.default_factory))
        else:
            fields[f.name] = (kind, ...)
    return fields


ScheduleDetail = create_model(
    "ScheduleDetail",
    __doc__="A config's schedule: its stored state (status, note, metadata, run counters), "
    "recent history, registration and whether the two agree (``scheduling.info.ScheduleInfo``).",
    **_mirrored(
        ScheduleInfo,
        drop=frozenset({"last_task_id"}),
        types={"recent_history": list[HistoryEventOut]},
    ),
)


class PreviewIn(RequestModel):
    scheduler_type: SchedulerType
    schedule_config: JsonObject = Field(default_factory=dict)
    count: int = Field(default=5, ge=1, le=50)


class PreviewOut(BaseModel):
    description: str = Field(description="the schedule in words")
    next_runs: list[datetime] = Field(
        description="the first fires if it were started now ([] for manual)"
    )


class DecisionOut(BaseModel):
    at: datetime
    due_at: datetime | None
    decision: Literal["fired", "skipped"]
    reason: str | None = Field(
        description="null for a fire; overlap / misfire / paused / stopped / excluded / "
        "requested for a skip"
    )
    detail: str | None = Field(
        default=None, description="an exclusion's holiday, a requested skip's note"
    )


class SkipBody(RequestModel):
    due_at: list[AwareDatetime] = Field(
        min_length=1,
        max_length=100,
        description="due times, each one of the next 1000 fire times of the schedule",
    )
    note: Annotated[SafeStr, Field(max_length=2000)] | None = None


class SkippedRunOut(BaseModel):
    due_at: datetime
    note: str | None


class SkipOut(BaseModel):
    config_id: int
    skipped_runs: list[SkippedRunOut] = Field(description="the upcoming skips, soonest first")


class LastFireOut(BaseModel):
    due_at: datetime | None
    sent_at: datetime
    task_id: str | None


class ExplainOut(BaseModel):
    config_id: int
    status: ScheduleStatus
    note: str | None
    status_at: datetime | None
    verdict: str = Field(description='one plain sentence: "why did it (not) run?"')
    next_runs: list[datetime]
    last_fire: LastFireOut | None
    last_execution: ExecutionOut | None
    decisions: list[DecisionOut] = Field(description="newest first")
    paused_until: datetime | None = Field(
        default=None, description="when a pause ends by itself (null when none)"
    )


class BulkBody(ConfigIdsBody):
    note: Annotated[SafeStr, Field(max_length=2000)] | None = None
    until: Instant | None = Field(default=None, description=UNTIL_DESCRIPTION)


class BulkErrorOut(BaseModel):
    config_id: int
    status_code: int = Field(description="what the single call would answer: 404, 409 or 422")
    detail: str


class BulkOut(BaseModel):
    results: list[ActionOut] = Field(description="the ids that got an answer 200, in order")
    errors: list[BulkErrorOut] = Field(description="the ids the single call would refuse")
    duplicates: list[int] = Field(default_factory=list, description=DUPLICATES_DESCRIPTION)


class BackfillIn(RequestModel):
    start: Instant = Field(description="the window's first instant (included)")
    end: Instant = Field(description="the window's end (excluded); not in the future")
    dry_run: bool = Field(default=False, description="send nothing; list what would be sent")
    note: Annotated[SafeStr, Field(max_length=2000)] | None = None


class BackfillOut(BaseModel):
    due_times: list[datetime] = Field(description="every due time of the schedule in [start, end)")
    already_ran: list[datetime] = Field(
        description="those with an execution, a `fired` event or an earlier backfill's send"
    )
    sent: list[datetime] = Field(
        description="the rest, each sent as a `backfill` run (dry run: what would be sent)"
    )
    dry_run: bool
    task_ids: list[str] = Field(
        default_factory=list,
        description="the task ids of `sent`, in order: a scheduled fire of the same due time "
        "has the same one",
    )
