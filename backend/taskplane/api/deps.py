"""Dependencies, named once as ``Annotated`` aliases so routes read ``session: SessionDep``.

Resources are opened by the lifespan (``app.state.resources``) and reached only through these.
``authorize`` is every protected router's dependency: no / unknown / revoked token -> 401, a
viewer calling a write method -> 403. ``AdminOnly`` additionally refuses viewers on reads.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Annotated, Any, TypeVar

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from redis.asyncio import Redis
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from taskplane.api.token_cache import TokenCache
from taskplane.auth import ADMIN, Principal, authenticate, hash_token, is_admin_token, may
from taskplane.resources import Resources
from taskplane.scheduling.info import Rider
from taskplane.scheduling.service import SchedulerService
from taskplane.settings import Settings
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


@contextlib.asynccontextmanager
async def request_session(resources: Resources) -> AsyncIterator[AsyncSession]:
    """A session for a request's work, closed by ``_close`` (see there)."""
    session = resources.sessions()
    try:
        yield session
    finally:
        await _close(session)


async def get_session(resources: ResourcesDep) -> AsyncIterator[AsyncSession]:
    async with request_session(resources) as session:
        yield session


async def _close(session: AsyncSession) -> None:
    """Close a request's session. A connection PostgreSQL dropped meanwhile cannot roll
    back; that must not turn a request already answered (a 200, or the 503 of the outage)
    into a dropped connection: the connection is invalidated and the pool discards it."""
    try:
        await session.close()
    except (SQLAlchemyError, OSError) as exc:
        log.warning(
            "database session closed on a lost connection", extra={"error": type(exc).__name__}
        )
        with contextlib.suppress(Exception):
            await session.invalidate()


async def get_redis(resources: ResourcesDep) -> Redis:
    return resources.redis


async def get_keys(resources: ResourcesDep) -> Keys:
    return resources.keys


async def get_registry(request: Request) -> TaskRegistry:
    registry: TaskRegistry = request.app.state.registry
    return registry


async def get_state(request: Request) -> ScheduleStateService:
    state: ScheduleStateService = request.app.state.schedule_state
    return state


async def get_scheduler(request: Request) -> SchedulerService:
    scheduler: SchedulerService = request.app.state.scheduler
    return scheduler


SessionDep = Annotated[AsyncSession, Depends(get_session)]
SchedulerDep = Annotated[SchedulerService, Depends(get_scheduler)]
RegistryDep = Annotated[TaskRegistry, Depends(get_registry)]
StateDep = Annotated[ScheduleStateService, Depends(get_state)]
RedisDep = Annotated[Redis, Depends(get_redis)]
KeysDep = Annotated[Keys, Depends(get_keys)]


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(status_code=401, detail=message, headers={"WWW-Authenticate": "Bearer"})


async def authorize(
    request: Request,
    resources: ResourcesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    return await _authorize(request, resources, credentials, defer=_defers(request))


async def _authorize(
    request: Request,
    resources: Resources,
    credentials: HTTPAuthorizationCredentials | None,
    *,
    defer: bool = False,
) -> Principal:
    if credentials is None or not credentials.credentials:
        raise _unauthorized("missing bearer token")
    principal = await _principal(request, resources, credentials.credentials, defer=defer)
    if principal is None:
        raise _unauthorized("unknown or revoked token")
    if not may(principal.role, request.method) and not _is_read_only(request):
        raise HTTPException(status_code=403, detail=f"role {principal.role} may only read")
    request.state.principal = principal
    return principal


async def _principal(
    request: Request, resources: Resources, token: str, *, defer: bool = False
) -> Principal | None:
    """The settings' admin token needs no lookup; a stored token's lookup is remembered
    under the token generation (``token_cache``): read first, then looked up if need be.
    ``defer``: a remembered lookup is used at once, its generation confirmed later on the
    route's own Redis round trip (``TokenCheck``)."""
    if is_admin_token(resources.settings, token):
        return ADMIN
    cache: TokenCache = request.app.state.token_cache
    digest = hash_token(token)
    if defer:
        remembered = cache.peek(digest)
        if remembered is not None:
            request.state.token_check = TokenCheck(
                request, resources, cache, token, digest, remembered[1]
            )
            return remembered[0]
    generation = await cache.generation()
    principal = cache.get(digest, generation)
    if principal is not None:
        return principal
    return await _looked_up(resources, cache, token, digest, generation)


async def _looked_up(
    resources: Resources, cache: TokenCache, token: str, digest: str, generation: str | None
) -> Principal | None:
    async with request_session(resources) as session:
        principal = await authenticate(session, resources.settings, token)
    if principal is not None:
        cache.put(digest, principal, generation)
    return principal


_DEFERRED_MARK = "_taskplane_defers_token_check"

E = TypeVar("E", bound=Callable[..., Any])


def defers_token_check(endpoint: E) -> E:
    """Mark a GET route that confirms a remembered token lookup itself (one Redis round
    trip fewer): it takes ``TokenCheckDep``, runs its work inside ``check.settled()`` and
    hands ``check.rider`` to the read model, whose pipeline then carries the token
    generation's GET. Nothing is answered before the generation is confirmed (a revoked
    token gets its 401, never the route's answer or error)."""
    setattr(endpoint, _DEFERRED_MARK, True)
    return endpoint


def _defers(request: Request) -> bool:
    route = request.scope.get("route")
    endpoint = getattr(route, "endpoint", None)
    return request.method == "GET" and bool(getattr(endpoint, _DEFERRED_MARK, False))


class TokenCheck:
    """A remembered lookup used before its token generation was read: ``rider`` queues
    that GET on a pipeline the route sends anyway; ``settled`` confirms it (reading the
    generation itself if no pipeline carried it), or looks the token up afresh, and
    answers 401 if it is no longer valid."""

    def __init__(
        self,
        request: Request,
        resources: Resources,
        cache: TokenCache,
        token: str,
        digest: str,
        generation: str,
    ) -> None:
        self.request = request
        self.resources = resources
        self.cache = cache
        self.token = token
        self.digest = digest
        self.generation = generation
        self.carried: str | None = None
        self.rider: Rider | None = self

    def queue(self, pipe: Any) -> int:
        pipe.get(self.cache.key)
        return 1

    def take(self, replies: Sequence[Any]) -> None:
        self.carried = None if replies[0] is None else str(replies[0])

    async def confirm(self) -> None:
        current = self.carried if self.carried is not None else await self.cache.generation()
        if current is not None and hmac.compare_digest(current.encode(), self.generation.encode()):
            return
        principal = await _looked_up(self.resources, self.cache, self.token, self.digest, current)
        if principal is None:
            raise _unauthorized("unknown or revoked token")

    @contextlib.asynccontextmanager
    async def settled(self) -> AsyncIterator[None]:
        try:
            yield
        except Exception:
            await self.confirm()  # a revoked token's 401 comes before the route's error
            raise
        await self.confirm()


class _Confirmed:
    """Nothing to confirm: the admin token, or a lookup made under a generation read
    first."""

    rider: Rider | None = None

    @contextlib.asynccontextmanager
    async def settled(self) -> AsyncIterator[None]:
        yield


_CONFIRMED = _Confirmed()


READ_ONLY = "x-read-only"
"""``openapi_extra`` key of a write-method route that changes nothing (a preview): a viewer
may call it. It is in the OpenAPI document, so clients see it too."""


def _is_read_only(request: Request) -> bool:
    extra: dict[str, Any] = getattr(request.scope.get("route"), "openapi_extra", None) or {}
    return bool(extra.get(READ_ONLY))


Caller = Annotated[Principal, Depends(authorize)]


async def get_token_check(request: Request, principal: Caller) -> TokenCheck | _Confirmed:
    check: TokenCheck | None = getattr(request.state, "token_check", None)
    return _CONFIRMED if check is None else check


TokenCheckDep = Annotated[TokenCheck | _Confirmed, Depends(get_token_check)]
"""A route marked ``defers_token_check`` takes this (after ``authorize``, which it depends
on): what it must confirm before answering."""

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
        await _authorize(request, request.app.state.resources, credentials)
    except HTTPException as exc:
        return exc
    return None


async def require_admin(principal: Caller) -> Principal:
    if not principal.is_admin:
        raise HTTPException(status_code=403, detail="admin role required")
    return principal


AdminOnly = Annotated[Principal, Depends(require_admin)]
