"""Schedule control (start / stop / pause / resume / reload), listing, summary, detail and
history. Every control action goes through SchedulerService, which serializes the actions
on one config and records each change in history."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request

from taskplane.actors import Actor
from taskplane.api.cpu_bound import CpuBound
from taskplane.api.deps import (
    READ_ONLY,
    ActorDep,
    AlertsDep,
    RegistryDep,
    ResourcesDep,
    SchedulerDep,
    SessionDep,
    StateDep,
)
from taskplane.api.errors import status_of
from taskplane.api.routers.compose import event_out, schedule_detail
from taskplane.api.routers.paging import LimitQuery, OffsetQuery
from taskplane.api.schemas.errors import documented
from taskplane.api.schemas.executions import ExecutionOut
from taskplane.api.schemas.inputs import MAX_ID
from taskplane.api.schemas.schedules import (
    ActionBody,
    ActionOut,
    BulkBody,
    BulkErrorOut,
    BulkOut,
    DecisionOut,
    ExplainOut,
    HistoryEventOut,
    LastFireOut,
    PreviewIn,
    PreviewOut,
    ScheduleDetail,
    ScheduleListItem,
    ScheduleSummary,
    SkipBody,
    SkipOut,
    SkippedRunOut,
)
from taskplane.db import configs, executions
from taskplane.enums import Action, ScheduleStatus
from taskplane.pages import Page
from taskplane.scheduling import bulk, explain, fire_times, specs, words
from taskplane.tasks.registry import DEFAULT_QUEUE

router = APIRouter(prefix="/schedules", tags=["schedules"])

ConfigId = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.get("", response_model=Page[ScheduleListItem])
async def list_schedules(
    session: SessionDep,
    scheduler: SchedulerDep,
    status: ScheduleStatus | None = None,
    limit: LimitQuery = 50,
    offset: OffsetQuery = 0,
) -> Any:
    ids = await scheduler.state.ids_with_status(status) if status is not None else None
    page = await configs.list_page(session, ids=ids, limit=limit, offset=offset)
    infos = await scheduler.infos(page.items, history=0, next_runs=False)
    items = [
        ScheduleListItem(
            config_id=row.id,
            name=row.name,
            task_type=row.task_type,
            schedule_status=infos[row.id].status,
            schedule=infos[row.id].schedule,
            next_run_at=infos[row.id].next_run_at,
        )
        for row in page.items
    ]
    return page.with_items(items)


@router.get("/summary", response_model=ScheduleSummary)
async def schedule_summary(state: StateDep) -> ScheduleSummary:
    return ScheduleSummary(**(await state.summary()).as_dict())


@router.post(
    "/preview",
    response_model=PreviewOut,
    openapi_extra={READ_ONLY: True},  # changes nothing: a viewer may call it
)
async def preview_schedule(body: PreviewIn, request: Request) -> PreviewOut:
    """What a config with this schedule would do if started now: validated exactly as on
    create (the same 422s, ``loc`` under ``["body", "schedule_config", ...]``). The fire
    times are computed in a child process, off the event loop (``api/cpu_bound.py``)."""
    spec = specs.parse(body.scheduler_type, body.schedule_config)
    cpu: CpuBound = request.app.state.cpu
    return PreviewOut(
        description=await asyncio.to_thread(words.describe_in_words, spec),  # reads a file
        next_runs=await cpu.run(fire_times.first_runs, spec, datetime.now(UTC), body.count),
    )


@router.get("/{config_id}", response_model=ScheduleDetail, responses=documented(404))
async def get_schedule(config_id: ConfigId, session: SessionDep, scheduler: SchedulerDep) -> Any:
    row = await configs.get(session, config_id)
    return schedule_detail(await scheduler.info(row))


@router.get("/{config_id}/history", response_model=Page[HistoryEventOut], responses=documented(404))
async def schedule_history(
    config_id: ConfigId,
    session: SessionDep,
    state: StateDep,
    limit: LimitQuery = 50,
    offset: OffsetQuery = 0,
) -> Any:
    await configs.get(session, config_id)
    events, total = await state.history(config_id, limit=limit, offset=offset)
    return Page(items=[event_out(e) for e in events], total=total, limit=limit, offset=offset)


@router.get("/{config_id}/explain", response_model=ExplainOut, responses=documented(404))
async def explain_schedule(
    config_id: ConfigId,
    session: SessionDep,
    scheduler: SchedulerDep,
    registry: RegistryDep,
    resources: ResourcesDep,
    alerts: AlertsDep,
) -> ExplainOut:
    """Why did it (not) run: the verdict, the scheduler's latest decisions for this config,
    its next fires, its last fire and its last execution."""
    row = await configs.get(session, config_id)
    task_type = registry.find(row.task_type)
    result = await explain.explain_config(
        scheduler,
        row,
        task_type.queue if task_type is not None else DEFAULT_QUEUE,
        stale_seconds=resources.settings.heartbeat_stale_seconds,
        alerts=alerts,
    )
    last = (await executions.list_page(session, config_id=config_id, limit=1)).items
    return ExplainOut(
        config_id=result.config_id,
        status=result.status,
        note=result.note,
        status_at=result.status_at,
        verdict=result.verdict,
        next_runs=result.next_runs,
        last_fire=LastFireOut(**asdict(result.last_fire)) if result.last_fire else None,
        last_execution=ExecutionOut.model_validate(last[0]) if last else None,
        decisions=[DecisionOut(**asdict(d)) for d in result.decisions],
        paused_until=result.paused_until,
    )


@router.post("/bulk/{action}", response_model=BulkOut)
async def bulk_control(
    action: Action, body: BulkBody, session: SessionDep, scheduler: SchedulerDep, actor: ActorDep
) -> BulkOut:
    """The action on up to 1,000 configs: each id gets exactly what the single call gives
    (``results``), or the code it would refuse with (``errors``), in the order given."""
    ids = body.unique_ids
    rows = await configs.get_many(session, set(ids))
    await session.rollback()  # no connection held while the actions run
    report = await bulk.act_many(scheduler, action, ids, rows, body.note, body.until, actor=actor)
    return BulkOut(
        results=[
            ActionOut(
                config_id=r.config_id,
                action=str(action),
                success=r.success,
                status=r.status,
                message=r.message,
            )
            for r in report.results
        ],
        errors=[
            BulkErrorOut(config_id=e.config_id, status_code=status_of(e.error), detail=e.detail)
            for e in report.errors
        ],
        duplicates=body.duplicate_ids,
    )


async def _skips(
    config_id: int,
    body: SkipBody,
    session: SessionDep,
    scheduler: SchedulerDep,
    actor: Actor,
    *,
    is_skip: bool,
) -> SkipOut:
    row = await configs.get(session, config_id)
    await session.rollback()  # no connection is held while the change runs
    runs = await scheduler.skipping.change(
        row.id,
        row.scheduler_type,
        body.due_at,
        body.note,
        is_skip=is_skip,
        actor=actor,
        config_name=row.name,
    )
    return SkipOut(config_id=row.id, skipped_runs=[SkippedRunOut(**asdict(run)) for run in runs])


@router.post("/{config_id}/skip", response_model=SkipOut, responses=documented(404, 409))
async def skip_runs(
    config_id: ConfigId,
    body: SkipBody,
    session: SessionDep,
    scheduler: SchedulerDep,
    actor: ActorDep,
) -> SkipOut:
    """Skip upcoming fires: each due time must be one of the next 1000 fire times of the
    active schedule; it is recorded as ``skipped`` (reason ``requested``) when it passes."""
    return await _skips(config_id, body, session, scheduler, actor, is_skip=True)


@router.post("/{config_id}/unskip", response_model=SkipOut, responses=documented(404, 409))
async def unskip_runs(
    config_id: ConfigId,
    body: SkipBody,
    session: SessionDep,
    scheduler: SchedulerDep,
    actor: ActorDep,
) -> SkipOut:
    """Undo skips: the due times fire again."""
    return await _skips(config_id, body, session, scheduler, actor, is_skip=False)


@router.post("/{config_id}/{action}", response_model=ActionOut, responses=documented(404, 409))
async def control_schedule(
    config_id: ConfigId,
    action: Action,
    session: SessionDep,
    scheduler: SchedulerDep,
    actor: ActorDep,
    body: ActionBody | None = None,
) -> ActionOut:
    row = await configs.get(session, config_id)
    await session.rollback()  # no connection is held while the action runs
    result = await scheduler.act(
        action,
        row,
        note=body.note if body else None,
        until=body.until if body else None,
        actor=actor,
    )
    return ActionOut(
        config_id=result.config_id,
        action=str(action),
        success=result.success,
        status=result.status,
        message=result.message,
    )
