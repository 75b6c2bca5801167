"""The FastAPI app: ``create_app(settings)``; the lifespan opens Resources (and closes them)
and builds the process's services on them (``taskplane/services.py``).

Every route lives under ``/api/v1`` and requires a bearer token (``deps.authorize``), except
``GET /api/v1/system/health``, ``/openapi.json`` and ``/docs`` (Swagger UI served from the
package; no ReDoc). Outside the API: the dashboard at ``/`` and ``/metrics`` (open unless
``metrics_token`` is set). Every response carries the headers of ``api/security.py``.
With traces on (``taskplane.tracing``), every request but the noisy ones gets a span.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from taskplane import __version__, heap, tracing
from taskplane.alerts.loop import running_alert_loop
from taskplane.api import config_schema, errors, security
from taskplane.api.cpu_bound import CpuBound
from taskplane.api.deps import authorize
from taskplane.api.docs import mount_docs
from taskplane.api.limits import BodyLimitMiddleware
from taskplane.api.root_path import RootPathMiddleware
from taskplane.api.routers import (
    alerts,
    as_code,
    audit,
    backfill,
    configs,
    events,
    executions,
    runs,
    schedules,
    system,
    task_types,
    tokens,
)
from taskplane.api.schemas.errors import documented
from taskplane.api.streams import OpenStreams
from taskplane.api.token_cache import TokenCache
from taskplane.dashboard.routes import mount_dashboard
from taskplane.observability import mount_observability
from taskplane.resources import Resources, open_resources
from taskplane.scheduling.service import SchedulerService
from taskplane.services import open_services
from taskplane.settings import Settings
from taskplane.state.events import Hub
from taskplane.tasks.registry import load_registry

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"

TAGS = [
    {"name": "task-types", "description": "registered task types and their parameter schemas"},
    {"name": "configs", "description": "task configurations (PostgreSQL) with their live state"},
    {"name": "schedules", "description": "schedule control, listing, summary and history"},
    {"name": "runs", "description": "run a config now, or many at once"},
    {"name": "executions", "description": "execution records and statistics"},
    {"name": "system", "description": "health, status, enums and the dashboard summary"},
    {"name": "tokens", "description": "API tokens (admin only)"},
    {"name": "alerts", "description": "late and failing incidents of configs with alerts"},
]


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    registry = load_registry(settings)
    async with open_resources(settings) as resources:
        app.state.resources = resources
        services = app.state.services = open_services(resources, registry)
        app.state.token_cache = TokenCache(resources.redis, resources.keys)
        app.state.started_at = time.monotonic()
        app.state.events = Hub(resources.redis, resources.keys.events)
        app.state.streams = OpenStreams(
            app.state.events,
            per_token=settings.events_streams_per_token,
            total=settings.events_streams_total,
        )
        revocations = asyncio.create_task(
            app.state.streams.watch_revocations(app.state.token_cache, resources.sessions),
            name="events-revocations",
        )
        await _reconcile_at_start(services.scheduler, resources)
        if getattr(app.state, "settle_heap", False):
            heap.settle()  # the api process only (``app_from_environment``), not tests
        try:
            async with running_alert_loop(services) as alert_loop:
                app.state.alert_loop = alert_loop
                yield
        finally:
            revocations.cancel()
            await asyncio.gather(revocations, return_exceptions=True)
            app.state.cpu.close()
            await app.state.events.close()  # every open event stream ends
            if getattr(app.state, "owns_tracing", False):
                tracing.shutdown()  # the api process's (``app_from_environment``): flush


async def _reconcile_at_start(scheduler: SchedulerService, resources: Resources) -> None:
    """Repair drift between the state and the registered schedules before serving. A store
    that is down must not keep the API from starting: health then reports it."""
    try:
        await scheduler.reconcile_all(resources.sessions)
    except (OSError, RedisError, SQLAlchemyError) as exc:
        log.warning("reconcile at start skipped", extra={"error": type(exc).__name__})


def create_app(settings: Settings) -> FastAPI:
    app = FastAPI(
        title="taskplane",
        version=__version__,
        description="Typed async tasks on TaskIQ: configs, schedules, runs and executions.",
        lifespan=lifespan,
        openapi_tags=TAGS,
        docs_url=None,  # served by mount_docs, from the package instead of a CDN
        redoc_url=None,  # not among API.md's open paths
        # a trailing-slash redirect's Location was built from the request's Host header
        # (any client could point it elsewhere): a path with a slash too many is a 404
        redirect_slashes=False,
    )
    app.state.settings = settings
    app.state.cpu = CpuBound()  # previews' fire-time maths, in a child process
    errors.install(app)

    api = APIRouter(prefix=API_PREFIX)
    api.include_router(system.health_router)
    protected = APIRouter(
        dependencies=[Depends(authorize)], responses=documented(401, 403, 413, 503)
    )
    protected.include_router(task_types.router)
    protected.include_router(as_code.router)  # before configs: /configs/export is no id
    protected.include_router(configs.router)
    protected.include_router(backfill.router)  # before /schedules/{id}/{action}
    protected.include_router(schedules.router)
    protected.include_router(runs.router)
    protected.include_router(executions.router)
    protected.include_router(system.router)
    protected.include_router(alerts.router)
    protected.include_router(audit.router)
    protected.include_router(tokens.router)  # after the others: the auth matrix revokes one
    protected.include_router(events.router)
    api.include_router(protected)
    app.include_router(api)

    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    mount_observability(app)  # GET /metrics (outside /api/v1; metrics_token guards it)
    mount_dashboard(app)  # the static dashboard at /
    mount_docs(app)  # GET /docs and its assets
    config_schema.install(app, lambda: load_registry(settings))  # POST /configs' union
    security.install(app, settings.cors_origins)  # headers on every response
    if settings.root_path:  # outermost: every layer sees the public path
        app.add_middleware(RootPathMiddleware, root_path=settings.root_path)
    traces = tracing.active()
    if traces is not None:
        traces.instrument_app(app)  # a server span per request (tracing.provider)
    return app
