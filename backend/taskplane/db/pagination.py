"""One page of rows and their total from one query: ``fetch_page`` (ORM objects on a
session) and ``fetch_rows`` (rows on a plain connection)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Row, Select, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from taskplane.pages import Page


async def fetch_page(
    session: AsyncSession, stmt: Select[Any], *, limit: int, offset: int
) -> Page[Any]:
    """A page of the statement's first entity (ORM objects) and the total."""
    return await _fetch(session, stmt, limit, offset, lambda row: row[0])


async def fetch_rows(
    conn: AsyncConnection, stmt: Select[Any], *, limit: int, offset: int
) -> Page[Any]:
    """``fetch_page`` on a plain connection: the items are the rows (columns by name; the
    total rides along as ``_total``)."""
    return await _fetch(conn, stmt, limit, offset, lambda row: row)


async def _fetch(
    runner: AsyncSession | AsyncConnection,
    stmt: Select[Any],
    limit: int,
    offset: int,
    item: Callable[[Row[Any]], Any],
) -> Page[Any]:
    """One statement for the rows and their total, the total as a scalar subquery rather
    than a window: ``count(*) over ()`` makes PostgreSQL read every matching row in full
    before the limit, while a separate ``count(*)`` needs no column (an index-only scan) and
    the page is read through the index, a page's rows only. Only when the offset lies past
    the end (no row carries the total) is the count run on its own."""
    total_of = select(func.count()).select_from(stmt.order_by(None).subquery())
    counted = (
        stmt.add_columns(total_of.scalar_subquery().label("_total")).limit(limit).offset(offset)
    )
    rows = (await runner.execute(counted)).all()
    if rows:
        return Page(
            items=[item(row) for row in rows], total=int(rows[0][-1]), limit=limit, offset=offset
        )
    total = int((await runner.execute(total_of)).scalar_one()) if offset > 0 else 0
    return Page(items=[], total=total, limit=limit, offset=offset)
