"""System: health (the only open endpoint), status, enums, dashboard.

Heartbeats are read with ``state/heartbeats.py`` from ``Keys.scheduler_instances`` and
``Keys.workers``; one is stale after ``heartbeat_stale_seconds``. Health needs PostgreSQL,
Redis, a fresh scheduler heartbeat and a fresh worker heartbeat; else 503 ``degraded``,
naming what is down (``down``) and since when (each component's ``down_since``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import datetime, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from taskplane import __version__
from taskplane.api.deps import RegistryDep, ResourcesDep, SchedulerDep, SessionDep, StateDep
from taskplane.api.errors import safe_text
from taskplane.api.schemas.executions import ExecutionOut
from taskplane.api.schemas.system import (
    Counts,
    Dashboard,
    Enums,
    Executions24h,
    Health,
    HeartbeatHealth,
    LastExit,
    NextFire,
    ScheduleCounts,
    SchedulerInstance,
    SchedulerStatus,
    StoreHealth,
    SystemStatus,
    WorkerStatus,
)
from taskplane.db import configs, executions
from taskplane.db.models import utcnow
from taskplane.enums import Action, Role, SchedulerType, ScheduleStatus, Trigger
from taskplane.resources import Resources
from taskplane.state import heartbeats

health_router = APIRouter(prefix="/system", tags=["system"])
router = APIRouter(prefix="/system", tags=["system"])

CHECK_TIMEOUT_SECONDS = 5.0
DASHBOARD_ROWS = 10


Beats = Sequence[heartbeats.SchedulerHeartbeat] | Sequence[heartbeats.WorkerHeartbeat]


def heartbeat_health(
    beats: Beats,
    stale_seconds: float,
    what: str,
    last_exit: heartbeats.Exit | None = None,
) -> HeartbeatHealth:
    alive = heartbeats.live(beats)
    latest = max((b.heartbeat_at for b in beats), default=None)
    age = (utcnow() - latest).total_seconds() if latest is not None else None
    error = None
    down_since = None
    if not alive:
        error = f"no {what} heartbeat within {stale_seconds:g}s"
        if last_exit is not None:
            error += f"; the last one ({last_exit.id}) {last_exit.reason}"
        exited_at = last_exit.exited_at if last_exit is not None else None
        signs = [at for at in (latest, exited_at) if at is not None]
        down_since = max(signs, default=None)
    return HeartbeatHealth(
        ok=alive > 0,
        alive=alive,
        heartbeat_age_seconds=round(age, 3) if age is not None else None,
        stale_after_seconds=stale_seconds,
        error=safe_text(error) if error else None,
        down_since=down_since,
        last_exit=(
            LastExit(id=last_exit.id, exited_at=last_exit.exited_at, reason=last_exit.reason)
            if last_exit is not None
            else None
        ),
    )


def _stores_down_since(request: Request, name: str, health: StoreHealth) -> None:
    """A store's ``down_since``: this api process's first failed check since its last good
    one (kept on ``app.state``; a restarted api knows only from its own first check)."""
    seen: dict[str, datetime] | None = getattr(request.app.state, "health_down_since", None)
    if seen is None:
        seen = {}
        request.app.state.health_down_since = seen
    if health.ok:
        seen.pop(name, None)
    else:
        health.down_since = seen.setdefault(name, utcnow())


async def read_heartbeats(
    resources: Resources,
) -> tuple[list[heartbeats.SchedulerHeartbeat], list[heartbeats.WorkerHeartbeat]]:
    stale = resources.settings.heartbeat_stale_seconds
    schedulers = await heartbeats.list_schedulers(
        resources.redis, resources.keys, stale_seconds=stale
    )
    workers = await heartbeats.list_workers(resources.redis, resources.keys, stale_seconds=stale)
    return schedulers, workers


def _failure(exc: BaseException) -> str:
    return safe_text(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)


async def _check_database(resources: Resources) -> StoreHealth:
    started = time.monotonic()
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            async with resources.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
    except Exception as exc:  # the health check reports any failure, it never raises
        return StoreHealth(ok=False, error=_failure(exc))
    return StoreHealth(ok=True, latency_ms=round((time.monotonic() - started) * 1000, 2))


async def _check_redis(
    resources: Resources,
) -> tuple[
    StoreHealth,
    list[heartbeats.SchedulerHeartbeat] | None,
    list[heartbeats.WorkerHeartbeat] | None,
    tuple[heartbeats.Exit | None, heartbeats.Exit | None],
]:
    started = time.monotonic()
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            await resources.redis.ping()
            latency = round((time.monotonic() - started) * 1000, 2)
            schedulers, workers = await read_heartbeats(resources)
            exits = await heartbeats.last_exits(resources.redis, resources.keys)
    except Exception as exc:  # the health check reports any failure, it never raises
        return StoreHealth(ok=False, error=_failure(exc)), None, None, (None, None)
    return StoreHealth(ok=True, latency_ms=latency), schedulers, workers, exits


@health_router.get(
    "/health",
    response_model=Health,
    responses={503: {"model": Health, "description": "a component is down or stale"}},
)
async def health(request: Request) -> JSONResponse:
    resources: Resources = request.app.state.resources
    stale = resources.settings.heartbeat_stale_seconds
    database, (redis_health, schedulers, workers, exits) = await asyncio.gather(
        _check_database(resources), _check_redis(resources)
    )
    _stores_down_since(request, "database", database)
    _stores_down_since(request, "redis", redis_health)
    unreachable = HeartbeatHealth(
        ok=False,
        stale_after_seconds=stale,
        error="Redis unreachable",
        down_since=redis_health.down_since,
    )
    scheduler_exit, worker_exit = exits
    body = Health(
        status="ok",
        database=database,
        redis=redis_health,
        scheduler=(
            heartbeat_health(schedulers, stale, "scheduler", scheduler_exit)
            if schedulers is not None
            else unreachable
        ),
        workers=(
            heartbeat_health(workers, stale, "worker", worker_exit)
            if workers is not None
            else unreachable.model_copy()
        ),
    )
    components = {
        "database": body.database,
        "redis": body.redis,
        "scheduler": body.scheduler,
        "workers": body.workers,
    }
    body.down = [name for name, c in components.items() if not c.ok]
    healthy = not body.down
    if not healthy:
        body.status = "degraded"
    return JSONResponse(status_code=200 if healthy else 503, content=body.model_dump(mode="json"))


@router.get("/status", response_model=SystemStatus)
async def status(request: Request, resources: ResourcesDep, session: SessionDep) -> SystemStatus:
    schedulers, workers = await read_heartbeats(resources)
    config_count = await configs.count(session)
    execution_count = await executions.count(session)
    leading = [b for b in schedulers if b.is_leader]
    return SystemStatus(
        version=__version__,
        uptime_seconds=round(time.monotonic() - request.app.state.started_at, 3),
        counts=Counts(configs=config_count, executions=execution_count),
        scheduler=SchedulerStatus(
            leader=leading[0].id if leading else None,
            heartbeat_at=leading[0].heartbeat_at if leading else None,
            instances=[
                SchedulerInstance(id=b.id, heartbeat_at=b.heartbeat_at, is_leader=b.is_leader)
                for b in schedulers
            ],
        ),
        workers=[
            WorkerStatus(id=b.id, heartbeat_at=b.heartbeat_at, queues=b.queues) for b in workers
        ],
    )


@router.get("/enums", response_model=Enums)
async def enums(registry: RegistryDep) -> Enums:
    return Enums(
        scheduler_types=[str(m) for m in SchedulerType],
        schedule_statuses=[str(m) for m in ScheduleStatus],
        actions=[str(m) for m in Action],
        triggers=[str(m) for m in Trigger],
        roles=[str(m) for m in Role],
        task_types=registry.names(),
    )


@router.get("/dashboard", response_model=Dashboard)
async def dashboard(scheduler: SchedulerDep, session: SessionDep, state: StateDep) -> Dashboard:
    counts = ScheduleCounts(**(await state.summary()).as_dict())
    total, failed = await executions.outcome_counts(session, since=utcnow() - timedelta(hours=24))
    failures = await executions.failed(session, limit=DASHBOARD_ROWS)
    due = await scheduler.core.next_dues(DASHBOARD_ROWS)
    names = await configs.get_many(session, [member for member, _ in due])
    next_fires = [
        NextFire(config_id=member, name=names[member].name, next_run_at=next_run_at)
        for member, next_run_at in due
        if member in names
    ]
    return Dashboard(
        schedules=counts,
        executions_24h=Executions24h(
            total=total, failed=failed, success_rate=(total - failed) / total if total else None
        ),
        recent_failures=[ExecutionOut.model_validate(row) for row in failures.items],
        next_fires=next_fires,
    )
