"""Configs: create (optionally started), filtered list, detail, update, delete.

Create, update and delete are the ``ConfigService``'s (scheduling/config_service.py: its
validation, and the undo that makes a failed request change nothing); the reads go through
the row reader (db/rows.py) and the read model, and answer plain values
(``compose.config_fields``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from taskplane.api.deps import (
    ActorDep,
    ConfigServiceDep,
    RegistryDep,
    ResourcesDep,
    RowsDep,
    SchedulerDep,
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
from taskplane.api.schemas.inputs import MAX_ID, SafeStr
from taskplane.db import configs, executions
from taskplane.enums import SchedulerType, ScheduleStatus
from taskplane.pages import Page

router = APIRouter(prefix="/configs", tags=["configs"])

ConfigId = Annotated[int, Path(ge=1, le=MAX_ID)]
FilterText = Annotated[SafeStr | None, Query(max_length=200)]
DETAIL_HISTORY = 20


@router.post("", status_code=201, response_model=ConfigCreated, responses=documented(409))
async def create_config(
    body: ConfigCreate,
    service: ConfigServiceDep,
    scheduler: SchedulerDep,
    registry: RegistryDep,
    actor: ActorDep,
    auto_start: bool = False,
) -> ConfigCreated:
    created = await service.create(body.fields(), actor=actor, auto_start=auto_start)
    info = await scheduler.info(created.row, history=0, next_runs=False)
    return ConfigCreated(
        **dict(config_out(created.row, info, registry)),
        run_settings_source=created.run_settings_source,
    )


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
    size; ``status`` first reads the id set of that status (one more round trip). ConfigRows
    through the row reader (db/rows.py: asyncpg directly on PostgreSQL, no
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
    service: ConfigServiceDep,
    scheduler: SchedulerDep,
    registry: RegistryDep,
    actor: ActorDep,
) -> ConfigOut:
    row = await service.update(config_id, body.changes(), actor=actor)
    info = await scheduler.info(row, history=0, next_runs=False)
    return config_out(row, info, registry)


@router.delete("/{config_id}", status_code=204, response_class=Response, responses=documented(404))
async def delete_config(
    config_id: ConfigId, service: ConfigServiceDep, actor: ActorDep
) -> Response:
    await service.delete(config_id, actor=actor)
    return Response(status_code=204)
