"""One page of rows and their total from one query: ``fetch_page`` (ORM objects on a
session) and ``fetch_rows`` (column values, each row made into a value by the caller)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import Row, Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from taskplane.pages import Page

Run = Callable[[Select[Any]], Awaitable[Sequence[Any]]]
T = TypeVar("T")


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

    return await _fetch(
        on_session(session), stmt, limit, offset, total_of, cursor, lambda row: row[0]
    )


def on_session(session: AsyncSession) -> Run:
    """``Run`` on a session: the statement's rows."""

    async def run(statement: Select[Any]) -> Sequence[Any]:
        found: Sequence[Any] = (await session.execute(statement)).all()
        return found

    return run


async def fetch_rows(
    run: Run,
    stmt: Select[Any],
    make: Callable[..., T],
    *,
    limit: int,
    offset: int,
    total_of: Select[Any] | None = None,
    cursor: bool = False,
) -> Page[T]:
    """``fetch_page`` of column values: ``run`` runs a statement (a session's, or a
    ``RowReader``'s ``all``), ``make(*values)`` makes each item (the total rides along,
    last, and is cut off)."""
    return await _fetch(run, stmt, limit, offset, total_of, cursor, lambda row: make(*row[:-1]))


def count_of(stmt: Select[Any]) -> Select[Any]:
    """The number of rows the statement yields (its order dropped)."""
    return select(func.count()).select_from(stmt.order_by(None).subquery())


async def _fetch(
    run: Run,
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
