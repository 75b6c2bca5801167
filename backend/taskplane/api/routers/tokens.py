"""API tokens (admin only): create (the secret is shown once, in an answer no cache may keep),
list, revoke (the token's open event streams end with it). A create and a revoke are audit
entries (``token_created`` / ``token_revoked``), written right after their commit."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response

from taskplane import auth
from taskplane.api import token_cache
from taskplane.api.deps import (
    ActorDep,
    AuditDep,
    KeysDep,
    RedisDep,
    SessionDep,
    require_admin,
)
from taskplane.api.routers.paging import LimitQuery, OffsetQuery
from taskplane.api.schemas.errors import documented
from taskplane.api.schemas.inputs import MAX_ID
from taskplane.api.schemas.tokens import TokenCreate, TokenCreated, TokenOut
from taskplane.db import tokens
from taskplane.db.tokens import token_details
from taskplane.pages import Page
from taskplane.state.audit import TOKEN_CREATED, TOKEN_REVOKED

router = APIRouter(prefix="/tokens", tags=["tokens"], dependencies=[Depends(require_admin)])

TokenId = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.post("", status_code=201, response_model=TokenCreated)
async def create_token(
    body: TokenCreate, session: SessionDep, response: Response, audit: AuditDep, actor: ActorDep
) -> TokenCreated:
    response.headers["Cache-Control"] = "no-store"  # the only answer that shows the token
    async with session.begin():
        row, plaintext = await auth.create_token(session, body.name, body.role)
    await audit.record(actor, TOKEN_CREATED, None, None, details=token_details(row))
    return TokenCreated(id=row.id, name=row.name, role=row.role, token=plaintext)


@router.get("", response_model=Page[TokenOut])
async def list_tokens(session: SessionDep, limit: LimitQuery = 50, offset: OffsetQuery = 0) -> Any:
    page = await tokens.list_page(session, limit=limit, offset=offset)
    return page.with_items([TokenOut.model_validate(t) for t in page.items])


@router.delete("/{token_id}", status_code=204, response_class=Response, responses=documented(404))
async def revoke_token(
    token_id: TokenId,
    session: SessionDep,
    redis: RedisDep,
    keys: KeysDep,
    request: Request,
    audit: AuditDep,
    actor: ActorDep,
) -> Response:
    revoked: list[dict[str, Any]] = []

    async def revoke() -> None:
        async with session.begin():
            revoked.append(token_details(await tokens.revoke(session, token_id)))

    # between two new token generations: every replica's remembered lookup is void
    await token_cache.revoked(redis, keys, revoke)
    await audit.record(actor, TOKEN_REVOKED, None, None, details=revoked[0])
    request.app.state.streams.end_token(token_id)  # other replicas: streams.watch_revocations
    return Response(status_code=204)
