"""One page of rows from one query: ``fetch_page``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from taskplane.pages import Page


async def fetch_page(
    session: AsyncSession, stmt: Select[Any], *, limit: int, offset: int
) -> Page[Any]:
    """One query for the rows and their total (``count(*) over ()``).

    Only when the offset lies past the end (no row carries the window count) is a second,
    plain count run.
    """
    counted = stmt.add_columns(func.count().over().label("_total")).limit(limit).offset(offset)
    rows = (await session.execute(counted)).all()
    if rows:
        return Page(
            items=[row[0] for row in rows], total=int(rows[0][-1]), limit=limit, offset=offset
        )
    total = 0
    if offset > 0:
        total = int(
            (await session.execute(select(func.count()).select_from(stmt.subquery()))).scalar_one()
        )
    return Page(items=[], total=total, limit=limit, offset=offset)


async def fetch_rows(
    conn: AsyncConnection, stmt: Select[Any], *, limit: int, offset: int
) -> Page[Any]:
    """``fetch_page`` on a plain connection: the items are the rows (columns by name; the
    total rides along as ``_total``). Still one statement, but the total is a scalar
    subquery rather than a window: ``count(*) over ()`` makes PostgreSQL read every
    matching row in full before the limit, while a separate ``count(*)`` needs no column
    (an index-only scan) and the page is read through the index, a page's rows only."""
    total_of = select(func.count()).select_from(stmt.order_by(None).subquery())
    counted = (
        stmt.add_columns(total_of.scalar_subquery().label("_total")).limit(limit).offset(offset)
    )
    rows = (await conn.execute(counted)).all()
    if rows:
        return Page(items=list(rows), total=int(rows[0][-1]), limit=limit, offset=offset)
    total = 0
    if offset > 0:
        total = int((await conn.execute(total_of)).scalar_one())
    return Page(items=[], total=total, limit=limit, offset=offset)
