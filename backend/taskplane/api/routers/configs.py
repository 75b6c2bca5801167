"""Configs: create (optionally started), filtered list, detail, update, delete.

A request that fails changes nothing:
- create commits the row, then creates its state (and starts it with ``auto_start``); if any
  of that fails the state and the row are removed again before the error is answered. The
  row is committed first so a run sent by the start (an interval's immediate run) never
  reaches a worker before its config exists.
- update commits the row change first, then re-registers an active schedule from the row
  as committed (re-read under the schedule's lock, so concurrent updates end on the latest
  row). A failed commit has touched nothing in Redis; if the re-registration raises, the
  row change is undone, and whatever Redis was left with is repaired by reconcile.
- delete takes the schedule's due score out (it fires no more), commits the row deletion
  (its execution records go with it), then removes the schedule, state and history. Redis
  unreachable: 503 before anything changed. A failed commit puts the due score back. Once
  committed the answer is 204; a Redis failure after that leaves state that reconcile
  removes, and a schedule that cannot fire.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from sqlalchemy import update as sql_update

from taskplane.api.deps import (
    RegistryDep,
    ResourcesDep,
    RowsDep,
    SchedulerDep,
    SessionDep,
    request_session,
)
from taskplane.api.routers.compose import config_fields, config_out, event_fields, json_response
from taskplane.api.routers.paging import AfterQuery, LimitQuery, OffsetQuery
from taskplane.api.schemas.configs import (
    ConfigCreate,
    ConfigCreated,
    ConfigDetail,
    ConfigOut,
    ConfigUpdate,
)
from taskplane.api.schemas.errors import documented
from taskplane.api.schemas.executions import ExecutionStatsOut
from taskplane.api.schemas.inputs import MAX_ID, JsonValueError, SafeStr, check_json
from taskplane.db import configs, executions
from taskplane.db.models import TaskConfig
from taskplane.enums import SchedulerType, ScheduleStatus
from taskplane.errors import FieldError, InvalidInput
from taskplane.pages import Page
from taskplane.scheduling import specs
from taskplane.tasks import secrets
from taskplane.tasks.registry import TaskRegistry, resolve_run_settings

log = logging.getLogger(__name__)

router = APIRouter(prefix="/configs", tags=["configs"])

ConfigId = Annotated[int, Path(ge=1, le=MAX_ID)]
FilterText = Annotated[SafeStr | None, Query(max_length=200)]
DETAIL_HISTORY = 20


def validate_config(
    registry: TaskRegistry,
    *,
    task_type: str,
    scheduler_type: SchedulerType,
    schedule_config: dict[str, Any],
    parameters: dict[str, Any],
    check_parameters: bool = True,
    check_schedule: bool = True,
) -> dict[str, Any]:
    """Every problem of a config at once (task type, parameters, schedule spec), as one
    InvalidInput naming each field; returns the normalized parameters."""
    errors: list[FieldError] = []
    normalized = parameters
    if registry.find(task_type) is None:
        errors.append(
            FieldError(
                ("task_type",),
                f"unknown task type; registered: {', '.join(registry.names())}",
                "value_error",
            )
        )
    elif check_parameters:
        try:
            normalized = registry.validate(task_type, parameters)
        except InvalidInput as exc:
            errors.extend(exc.errors)
    if check_schedule:
        try:
            specs.parse(scheduler_type, schedule_config)
        except InvalidInput as exc:
            errors.extend(exc.errors)
    if not errors:
        try:
            check_json(normalized)  # a parameter model may turn "inf" into a float
        except JsonValueError as exc:
            errors.append(FieldError(("parameters", *exc.path), str(exc), "value_error"))
    if errors:
        raise InvalidInput(errors)
    return normalized


@router.post("", status_code=201, response_model=ConfigCreated, responses=documented(409))
async def create_config(
    body: ConfigCreate,
    session: SessionDep,
    registry: RegistryDep,
    scheduler: SchedulerDep,
    auto_start: bool = False,
) -> ConfigCreated:
    fields = body.model_dump()
    run_settings, sources = resolve_run_settings(registry.find(body.task_type), fields)
    fields.update(run_settings)
    fields["parameters"] = validate_config(
        registry,
        task_type=body.task_type,
        scheduler_type=body.scheduler_type,
        schedule_config=body.schedule_config,
        parameters=body.parameters,
    )
    async with session.begin():
        row = await configs.create(session, **fields)
    try:
        await scheduler.on_created(row)
        if auto_start and body.scheduler_type is not SchedulerType.MANUAL:
            result = await scheduler.start(row)
            if not result.success:
                raise InvalidInput.field("schedule_config", msg=result.message)
    except BaseException:
        await asyncio.shield(_undo_create(session, scheduler, row.id))
        raise
    info = await scheduler.info(row, history=0, next_runs=False)
    return ConfigCreated(**dict(config_out(row, info, registry)), run_settings_source=sources)


async def _undo_create(session: Any, scheduler: Any, config_id: int) -> None:
    """Remove what a failed create left: its schedule and state, then its row."""
    try:
        await scheduler.on_deleted(config_id)
    finally:
        async with session.begin():
            await configs.delete(session, config_id)


@router.get("", response_model=Page[ConfigOut])
async def list_configs(
    rows: RowsDep,
    scheduler: SchedulerDep,
    registry: RegistryDep,
    task_type: FilterText = None,
    scheduler_type: SchedulerType | None = None,
    status: ScheduleStatus | None = None,
    q: FilterText = None,
    limit: LimitQuery = 50,
    offset: OffsetQuery = 0,
    after: AfterQuery = None,
) -> Response:
    """One SQL query (page + count) and one Redis pipeline (every state), whatever the page
    size; ``status`` first reads the id set of that status (one more round trip). Rows, not
    ORM objects, through the row reader (db/rows.py: asyncpg directly on PostgreSQL, no
    transaction). ``after`` pages by id (keyset: as cheap deep as on the first page);
    ``total`` counts every match."""
    ids = await scheduler.state.ids_with_status(status) if status is not None else None
    page = await configs.list_rows(
        rows,
        task_type=task_type,
        scheduler_type=scheduler_type,
        q=q,
        ids=ids,
        after=after,
        limit=limit,
        offset=offset,
    )
    infos = await scheduler.infos(page.items, history=0, next_runs=False)
    return json_response(
        {
            "items": [config_fields(row, infos[row.id], registry) for row in page.items],
            "total": page.total,
            "limit": page.limit,
            "offset": page.offset,
        }
    )


@router.get("/{config_id}", response_model=ConfigDetail, responses=documented(404))
async def get_config(
    config_id: ConfigId,
    resources: ResourcesDep,
    rows: RowsDep,
    scheduler: SchedulerDep,
    registry: RegistryDep,
    include_stats: bool = False,
) -> Response:
    row = await configs.get_row(rows, config_id)
    info = await scheduler.info(row, history=DETAIL_HISTORY, next_runs=False)
    stats = None
    if include_stats:
        async with request_session(resources) as session:
            stats = ExecutionStatsOut.model_validate(
                await executions.stats(session, config_id=config_id)
            )
    body = config_fields(row, info, registry)
    body["recent_history"] = [event_fields(e) for e in info.recent_history]
    body["stats"] = stats
    return json_response(body)


@router.patch("/{config_id}", response_model=ConfigOut, responses=documented(404, 409))
async def update_config(
    config_id: ConfigId,
    body: ConfigUpdate,
    session: SessionDep,
    registry: RegistryDep,
    scheduler: SchedulerDep,
) -> ConfigOut:
    changes = body.changes()
    async with session.begin():
        row = await configs.get(session, config_id)
        if "parameters" in changes:  # a secret sent back as "***" keeps its stored value
            changes["parameters"] = secrets.restored(
                changes["parameters"],
                row.parameters,
                secrets.fields_of(registry, changes.get("task_type", row.task_type)),
            )
        merged = _merged(row, changes)
        touches_params = bool({"task_type", "parameters"} & changes.keys())
        touches_spec = bool({"scheduler_type", "schedule_config"} & changes.keys())
        normalized = validate_config(
            registry,
            task_type=merged["task_type"],
            scheduler_type=SchedulerType(merged["scheduler_type"]),
            schedule_config=merged["schedule_config"],
            parameters=merged["parameters"],
            check_parameters=touches_params,
            check_schedule=touches_spec,
        )
        if touches_params:
            changes["parameters"] = normalized
        changed = {k for k, v in changes.items() if getattr(row, k) != v}
        previous = {k: getattr(row, k) for k in changed}
        previous_at = row.updated_at
        await configs.update(session, row, changes)
    # Committed: Redis follows the row. A failed commit above touched nothing in Redis.
    if changed:

        async def reload() -> TaskConfig | None:
            async with session.begin():
                return await session.get(TaskConfig, config_id, populate_existing=True)

        try:  # shielded: a cancelled request still brings Redis in line with the row
            await asyncio.shield(scheduler.on_updated(row, changed, reload=reload))
        except Exception:
            # A failed request changes nothing: put the row back. Whatever Redis holds is
            # then the old registration or one that reconcile replaces from the row.
            await asyncio.shield(_undo_update(session, config_id, previous, previous_at, row))
            raise
    info = await scheduler.info(row, history=0, next_runs=False)
    return config_out(row, info, registry)


async def _undo_update(
    session: Any,
    config_id: int,
    previous: dict[str, Any],
    previous_at: datetime,
    row: TaskConfig,
) -> None:
    """Restore the fields an update changed, unless another update came after it."""
    try:
        async with session.begin():
            await session.execute(
                sql_update(TaskConfig)
                .where(TaskConfig.id == config_id, TaskConfig.updated_at == row.updated_at)
                .values(**previous, updated_at=previous_at)
                .execution_options(synchronize_session=False)
            )
    except Exception as exc:  # the original error is the one to answer
        log.warning(
            "could not undo a config update; reconcile repairs its schedule",
            extra={"config_id": config_id, "error": type(exc).__name__},
        )


def _merged(row: TaskConfig, changes: dict[str, Any]) -> dict[str, Any]:
    current = {
        "task_type": row.task_type,
        "scheduler_type": row.scheduler_type,
        "schedule_config": row.schedule_config,
        "parameters": row.parameters,
    }
    return {**current, **{k: v for k, v in changes.items() if k in current}}


@router.delete("/{config_id}", status_code=204, response_class=Response, responses=documented(404))
async def delete_config(
    config_id: ConfigId, session: SessionDep, scheduler: SchedulerDep
) -> Response:
    async def delete_row() -> None:
        async with session.begin():
            await configs.delete(session, config_id)

    # Redis, then the row, then Redis again: see SchedulerService.delete (a 503 or 404 has
    # changed nothing; a 204 has deleted the config, and its schedule can no longer fire).
    await scheduler.delete(config_id, delete_row)
    return Response(status_code=204)
