"""API token rows: the hash is stored, never the token."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from taskplane.db.models import ApiToken, utcnow
from taskplane.db.pagination import fetch_page
from taskplane.enums import Role
from taskplane.errors import NotFound
from taskplane.pages import Page


async def create(session: AsyncSession, *, name: str, role: Role, token_hash: str) -> ApiToken:
    token = ApiToken(name=name, role=role, token_hash=token_hash)
    session.add(token)
    await session.flush()
    return token


async def find_active_by_hash(session: AsyncSession, token_hash: str) -> ApiToken | None:
    return await session.scalar(
        select(ApiToken).where(ApiToken.token_hash == token_hash, ApiToken.revoked_at.is_(None))
    )


async def touch(session: AsyncSession, token_id: int) -> None:
    await session.execute(
        update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=utcnow())
    )


async def list_page(session: AsyncSession, *, limit: int = 50, offset: int = 0) -> Page[ApiToken]:
    stmt = select(ApiToken).order_by(ApiToken.id)
    return await fetch_page(session, stmt, limit=limit, offset=offset)


async def revoke(session: AsyncSession, token_id: int) -> ApiToken:
    token = await session.get(ApiToken, token_id)
    if token is None:
        raise NotFound("token", token_id)
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        await session.flush()
    return token


def token_details(token: ApiToken) -> dict[str, Any]:
    """What an audit entry says of a token: never its secret or hash."""
    return {"token_id": token.id, "name": token.name, "role": str(token.role)}


async def active_ids(session: AsyncSession, token_ids: Iterable[int]) -> set[int]:
    """Those of ``token_ids`` that are not revoked (nor deleted)."""
    wanted = list(token_ids)
    if not wanted:
        return set()
    found = await session.scalars(
        select(ApiToken.id).where(ApiToken.id.in_(wanted), ApiToken.revoked_at.is_(None))
    )
    return set(found)
