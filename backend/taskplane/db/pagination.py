"""The page shape every list returns: items, total, limit, offset."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: Sequence[T]
    total: int
    limit: int
    offset: int


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
        return Page([row[0] for row in rows], int(rows[0][-1]), limit, offset)
    total = 0
    if offset > 0:
        total = int(
            (await session.execute(select(func.count()).select_from(stmt.subquery()))).scalar_one()
        )
    return Page([], total, limit, offset)
