from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taskplane.db import tokens
from taskplane.enums import Role

Sessions = async_sessionmaker[AsyncSession]


async def test_token_rows_store_hash_and_revoke(any_sessions: Sessions) -> None:
    async with any_sessions() as s, s.begin():
        row = await tokens.create(s, name="ci", role=Role.VIEWER, token_hash="h" * 64)
    async with any_sessions() as s, s.begin():
        found = await tokens.find_active_by_hash(s, "h" * 64)
        assert found is not None and found.role is Role.VIEWER
        await tokens.touch(s, row.id)
    async with any_sessions() as s, s.begin():
        revoked = await tokens.revoke(s, row.id)
        assert revoked.revoked_at is not None
    async with any_sessions() as s:
        assert await tokens.find_active_by_hash(s, "h" * 64) is None
        page = await tokens.list_page(s)
        assert page.total == 1 and page.items[0].last_used_at is not None
