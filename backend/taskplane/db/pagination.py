"""One page of rows and their total from one query: ``fetch_page`` (ORM objects on a
session) and ``fetch_rows`` (rows through a ``RowReader``: asyncpg directly on PostgreSQL)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy import Row, Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from taskplane.db.rows import RowReader
from taskplane.pages import Page


async def fetch_page(
    session: AsyncSession,
    stmt: Select[Any],
    *,
    limit: int,
    offset: int,
    total_of: Select[Any] | None = None,
    cursor: bool = False,
) -> Page[Any]:
    """A page of the statement's first entity (ORM objects) and the total: by default the
    count of the statement's rows, else ``total_of`` (a one-value select: a kept counter,
    or the count of a wider statement when ``stmt`` starts past a keyset cursor, which
    ``cursor`` says: an empty page at offset 0 then does not mean a total of 0)."""

    async def run(statement: Select[Any]) -> Sequence[Any]:
        found: Sequence[Any] = (await session.execute(statement)).all()
        return found

    return await _fetch(run, stmt, limit, offset, total_of, cursor, lambda row: row[0])


async def fetch_rows(
    rows: RowReader,
    stmt: Select[Any],
    *,
    limit: int,
    offset: int,
    total_of: Select[Any] | None = None,
    cursor: bool = False,
) -> Page[Any]:
    """``fetch_page`` through a ``RowReader`` (db/rows.py): the items are the rows (columns
    by name; the total rides along, last)."""
    return await _fetch(rows.all, stmt, limit, offset, total_of, cursor, lambda row: row)


def count_of(stmt: Select[Any]) -> Select[Any]:
    """The number of rows the statement yields (its order dropped)."""
    return select(func.count()).select_from(stmt.order_by(None).subquery())


async def _fetch(
    run: Callable[[Select[Any]], Awaitable[Sequence[Any]]],
    stmt: Select[Any],
    limit: int,
    offset: int,
    total_of: Select[Any] | None,
    cursor: bool,
    item: Callable[[Row[Any]], Any],
) -> Page[Any]:
    """One statement for the rows and their total, the total as a scalar subquery rather
    than a window: ``count(*) over ()`` makes PostgreSQL read every matching row in full
    before the limit, while a separate ``count(*)`` needs no column (an index-only scan) and
    the page is read through the index, a page's rows only. Only when no row came back (no
    row carries the total) is the total read on its own - unless the page was the first
    (offset 0, no cursor): then it is 0."""
    total_stmt = count_of(stmt) if total_of is None else total_of
    counted = (
        stmt.add_columns(total_stmt.scalar_subquery().label("_total")).limit(limit).offset(offset)
    )
    rows = await run(counted)
    if rows:
        return Page(
            items=[item(row) for row in rows], total=int(rows[0][-1]), limit=limit, offset=offset
        )
    total = 0
    if offset > 0 or cursor:
        total = int((await run(total_stmt))[0][0] or 0)
    return Page(items=[], total=total, limit=limit, offset=offset)
