"""Dependencies, named once as ``Annotated`` aliases so routes read ``session: SessionDep``.

Resources are opened by the lifespan (``app.state.resources``), the services built on them
(``app.state.services``, ``taskplane/services.py``); routes reach both only through these.
``authorize`` is every protected router's dependency: no / unknown / revoked token -> 401, a
viewer calling a write method -> 403. ``AdminOnly`` additionally refuses viewers on reads.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from taskplane.actors import Actor
from taskplane.alerts.store import AlertStore
from taskplane.api.token_cache import TokenCache
from taskplane.auth import ADMIN, Principal, authenticate, hash_token, is_admin_token, may
from taskplane.db.rows import RowReader
from taskplane.db.session import open_session
from taskplane.resources import Resources
from taskplane.scheduling.config_service import ConfigService
from taskplane.scheduling.service import SchedulerService
from taskplane.services import Services
from taskplane.settings import Settings
from taskplane.state.audit import AuditLog
from taskplane.state.keys import Keys
from taskplane.state.schedule_state import ScheduleStateService
from taskplane.tasks.registry import TaskRegistry

log = logging.getLogger(__name__)

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="BearerToken",
    description="an API token: the admin token from settings, or one made by "
    "`taskplane token create` / POST /api/v1/tokens",
)


async def get_resources(request: Request) -> Resources:
    resources: Resources = request.app.state.resources
    return resources


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


ResourcesDep = Annotated[Resources, Depends(get_resources)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def request_session(resources: Resources) -> AbstractAsyncContextManager[AsyncSession]:
    """A session for a request's work (``db.session.open_session``: closed quietly on a
    connection PostgreSQL dropped)."""
    return open_session(resources.sessions)


async def get_session(resources: ResourcesDep) -> AsyncIterator[AsyncSession]:
    async with request_session(resources) as session:
        yield session


async def get_redis(resources: ResourcesDep) -> Redis:
    return resources.redis


async def get_keys(resources: ResourcesDep) -> Keys:
    return resources.keys


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


# each reads the request's app directly (no dependency on a services dependency): every
# dependency FastAPI resolves is work on every request of the hot reads
async def get_registry(request: Request) -> TaskRegistry:
    return _services(request).registry


async def get_state(request: Request) -> ScheduleStateService:
    return _services(request).state


async def get_rows(request: Request) -> RowReader:
    return _services(request).rows


async def get_scheduler(request: Request) -> SchedulerService:
    return _services(request).scheduler


async def get_config_service(request: Request) -> ConfigService:
    return _services(request).configs


async def get_audit(request: Request) -> AuditLog:
    return _services(request).audit


async def get_alerts(request: Request) -> AlertStore:
    return _services(request).alerts


SessionDep = Annotated[AsyncSession, Depends(get_session)]
SchedulerDep = Annotated[SchedulerService, Depends(get_scheduler)]
RegistryDep = Annotated[TaskRegistry, Depends(get_registry)]
StateDep = Annotated[ScheduleStateService, Depends(get_state)]
RowsDep = Annotated[RowReader, Depends(get_rows)]
ConfigServiceDep = Annotated[ConfigService, Depends(get_config_service)]
AuditDep = Annotated[AuditLog, Depends(get_audit)]
RedisDep = Annotated[Redis, Depends(get_redis)]
AlertsDep = Annotated[AlertStore, Depends(get_alerts)]
KeysDep = Annotated[Keys, Depends(get_keys)]


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(status_code=401, detail=message, headers={"WWW-Authenticate": "Bearer"})


async def authorize(
    request: Request,
    resources: ResourcesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    if credentials is None or not credentials.credentials:
        raise _unauthorized("missing bearer token")
    principal = await _principal(request, resources, credentials.credentials)
    if principal is None:
        raise _unauthorized("unknown or revoked token")
    if not may(principal.role, request.method) and not _is_read_only(request):
        raise HTTPException(status_code=403, detail=f"role {principal.role} may only read")
    request.state.principal = principal
    return principal


async def _principal(request: Request, resources: Resources, token: str) -> Principal | None:
    """The settings' admin token needs no lookup; a stored token's lookup is remembered
    under the token generation (``token_cache``): read first, then looked up if need be."""
    if is_admin_token(resources.settings, token):
        return ADMIN
    cache: TokenCache = request.app.state.token_cache
    digest = hash_token(token)
    generation = await cache.generation()

    async def look_up() -> Principal | None:
        async with request_session(resources) as session:
            return await authenticate(session, resources.settings, token)

    return await cache.lookup(digest, generation, look_up)


READ_ONLY = "x-read-only"
"""``openapi_extra`` key of a write-method route that changes nothing (a preview): a viewer
may call it. It is in the OpenAPI document, so clients see it too."""


DRY_RUN_FOR_VIEWERS = "x-viewer-dry-run"
"""``openapi_extra`` key of a write-method route a viewer may call with ``dry_run: true``
only: ``authorize`` lets the viewer through, and the route's ``AdminOrDryRun`` refuses
anything else (403)."""


def _is_read_only(request: Request) -> bool:
    extra: dict[str, Any] = getattr(request.scope.get("route"), "openapi_extra", None) or {}
    return bool(extra.get(READ_ONLY) or extra.get(DRY_RUN_FOR_VIEWERS))


Caller = Annotated[Principal, Depends(authorize)]


async def get_actor(principal: Caller) -> Actor:
    """Who a write is recorded as: the caller's token name (``actors.py``; ``authorize``
    runs once per request, this reads its answer)."""
    return Actor.token(principal.name)


ActorDep = Annotated[Actor, Depends(get_actor)]

OPEN_PATHS = frozenset({"/api/v1/system/health"})


async def refusal(request: Request) -> HTTPException | None:
    """The 401 / 403 a request would get, for errors raised before ``authorize`` ran (a body
    that is not JSON is refused while FastAPI reads it, before any dependency)."""
    path = request.url.path
    if not path.startswith("/api/v1") or path in OPEN_PATHS:
        return None
    if getattr(request.state, "principal", None) is not None:
        return None
    credentials = await bearer(request)
    try:
        await authorize(request, request.app.state.resources, credentials)
    except HTTPException as exc:
        return exc
    return None


async def require_admin(principal: Caller) -> Principal:
    if not principal.is_admin:
        raise HTTPException(status_code=403, detail="admin role required")
    return principal


AdminOnly = Annotated[Principal, Depends(require_admin)]


async def require_admin_or_dry_run(request: Request, principal: Caller) -> Principal:
    """A ``DRY_RUN_FOR_VIEWERS`` route's check: a viewer's body must say ``"dry_run":
    true``, else 403, before the body is judged (as a viewer's write is refused)."""
    if principal.is_admin:
        return principal
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not (isinstance(body, dict) and body.get("dry_run") is True):
        raise HTTPException(
            status_code=403, detail="admin role required (a viewer may send dry_run: true)"
        )
    return principal


AdminOrDryRun = Annotated[Principal, Depends(require_admin_or_dry_run)]
