"""Execution records: filtered lists, recent, failed, stats, detail, cleanup."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from taskplane.api.deps import ResourcesDep, SessionDep, require_admin
from taskplane.api.routers.paging import ConfigIdQuery, LimitQuery, OffsetQuery, aware
from taskplane.api.schemas.errors import documented
from taskplane.api.schemas.executions import (
    CleanupOut,
    ExecutionOut,
    ExecutionStatsOut,
    HistogramOut,
    RunningListOut,
    RunningOut,
)
from taskplane.api.schemas.inputs import MAX_ID
from taskplane.db import executions
from taskplane.db.models import utcnow
from taskplane.enums import Trigger
from taskplane.errors import InvalidInput
from taskplane.pages import Page
from taskplane.state import running

router = APIRouter(prefix="/executions", tags=["executions"])

ExecutionId = Annotated[int, Path(ge=1, le=MAX_ID)]
MAX_DAYS = 36_500
MAX_BUCKETS = 1000


def execution_page(page: Page[Any]) -> Page[ExecutionOut]:
    return page.with_items([ExecutionOut.model_validate(row) for row in page.items])


@router.get("", response_model=Page[ExecutionOut])
async def list_executions(
    session: SessionDep,
    config_id: ConfigIdQuery = None,
    is_success: bool | None = None,
    trigger: Trigger | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: LimitQuery = 50,
    offset: OffsetQuery = 0,
) -> Any:
    page = await executions.list_page(
        session,
        config_id=config_id,
        is_success=is_success,
        trigger=trigger,
        since=aware(since, "since"),
        until=aware(until, "until"),
        limit=limit,
        offset=offset,
    )
    return execution_page(page)


@router.get("/recent", response_model=Page[ExecutionOut])
async def recent_executions(
    session: SessionDep, limit: LimitQuery = 20, offset: OffsetQuery = 0
) -> Any:
    return execution_page(await executions.recent(session, limit=limit, offset=offset))


@router.get("/failed", response_model=Page[ExecutionOut])
async def failed_executions(
    session: SessionDep, limit: LimitQuery = 20, offset: OffsetQuery = 0
) -> Any:
    return execution_page(await executions.failed(session, limit=limit, offset=offset))


@router.get("/stats", response_model=ExecutionStatsOut)
async def execution_stats(
    session: SessionDep, config_id: ConfigIdQuery = None, since: datetime | None = None
) -> Any:
    stats = await executions.stats(session, config_id=config_id, since=aware(since, "since"))
    return ExecutionStatsOut.model_validate(stats)


@router.get("/histogram", response_model=HistogramOut)
async def execution_histogram(
    session: SessionDep,
    since: datetime | None = None,
    until: datetime | None = None,
    bucket: Annotated[int, Query(ge=60, le=86_400, description="bucket width in seconds")] = 3600,
    config_id: ConfigIdQuery = None,
) -> Any:
    """Executions started in ``[since, until)`` (default: the last 24 hours) counted per
    bucket and outcome, in the database; at most 1000 buckets, so the answer has the same
    size however many executions are stored."""
    end = aware(until, "until") or utcnow()
    start = aware(since, "since") or end - timedelta(hours=24)
    if start >= end:
        raise InvalidInput.field("since", msg="must be before until", root="query")
    if (end - start).total_seconds() > MAX_BUCKETS * bucket:
        raise InvalidInput.field(
            "bucket", msg=f"more than {MAX_BUCKETS} buckets: widen the bucket", root="query"
        )
    found = await executions.histogram(
        session, since=start, until=end, bucket_seconds=bucket, config_id=config_id
    )
    return HistogramOut.model_validate(found)


@router.get("/running", response_model=RunningListOut)
async def running_executions(
    resources: ResourcesDep,
    config_id: ConfigIdQuery = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Any:
    """The attempts running now (from Redis: a record exists only once one finishes), of one
    config or of all, newest first; read from the running index, never by scanning keys."""
    runs = await running.in_flight(
        resources.redis, resources.keys, config_id=config_id, limit=limit
    )
    return RunningListOut(items=[RunningOut.model_validate(run) for run in runs])


@router.get("/{execution_id}", response_model=ExecutionOut, responses=documented(404))
async def get_execution(execution_id: ExecutionId, session: SessionDep) -> Any:
    return ExecutionOut.model_validate(await executions.get(session, execution_id))


@router.delete(
    "", response_model=CleanupOut, dependencies=[Depends(require_admin)], summary="cleanup"
)
async def cleanup_executions(
    resources: ResourcesDep,
    older_than_days: Annotated[int, Query(ge=0, le=MAX_DAYS)],
) -> CleanupOut:
    deleted = await executions.purge_older_than(resources.sessions, days=older_than_days)
    return CleanupOut(deleted=deleted)
