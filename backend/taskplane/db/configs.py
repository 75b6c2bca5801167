"""Config data access. The caller owns the transaction: these flush, never commit.

Every read and write answers with a ``ConfigRow`` (one frozen value per config, whatever
read it: a session here, or the API's ``RowReader``, asyncpg directly on PostgreSQL); the
ORM class ``TaskConfig`` stays in ``db/`` (and the migrations).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import Select, Table, bindparam, func, insert, or_, select
from sqlalchemy import delete as sql_delete
from sqlalchemy import update as sql_update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from taskplane.db.models import TaskConfig, TaskConfigCount, utcnow
from taskplane.db.pagination import count_of, fetch_rows, on_session
from taskplane.db.rows import RowReader
from taskplane.enums import SchedulerType
from taskplane.errors import Conflict, NotFound
from taskplane.pages import Page

# The fields a registered schedule is built from: a change to any re-registers it.
SCHEDULE_FIELDS = frozenset(
    {
        "task_type",
        "scheduler_type",
        "schedule_config",
        "parameters",
        "max_retries",
        "timeout_seconds",
        "priority",
    }
)
# Every field a caller may set (create, update): the schedule's, and the config's own words.
EDITABLE_FIELDS = SCHEDULE_FIELDS | {"name", "description", "alerts"}


class ConfigRow(NamedTuple):
    """A config as stored: the ``task_config`` columns, in the table's order (a test holds
    the two together), so a row read by any path is ``ConfigRow(*values)``.

    A named tuple, not a frozen dataclass: both are immutable, but building a frozen
    dataclass of these fields took 2.1 µs here and a named tuple 0.4 µs, and the
    config list builds one per row (50 a page, on B6's path)."""

    id: int
    name: str
    description: str | None
    task_type: str
    scheduler_type: SchedulerType
    schedule_config: dict[str, Any]
    parameters: dict[str, Any]
    max_retries: int
    timeout_seconds: int | None
    priority: int
    created_at: datetime
    updated_at: datetime
    alerts: dict[str, Any] | None = None


_TABLE = cast(Table, TaskConfig.__table__)
_ROW = select(_TABLE)  # every column, in ConfigRow's order
_BY_ID = _ROW.where(_TABLE.c.id == bindparam("config_id"))  # built once


def _rows(found: Sequence[Any]) -> list[ConfigRow]:
    return [ConfigRow(*values) for values in found]


def _check_fields(fields: Collection[str]) -> None:
    unknown = set(fields) - EDITABLE_FIELDS
    if unknown:
        raise TypeError(f"unknown config fields: {sorted(unknown)}")


async def create(session: AsyncSession, **fields: Any) -> ConfigRow:
    """Insert a config; a taken name raises Conflict (also when two requests race)."""
    _check_fields(fields)
    try:
        async with session.begin_nested():  # a failed insert is undone alone (savepoint)
            found = await session.execute(insert(_TABLE).values(**fields).returning(*_TABLE.c))
            return ConfigRow(*found.one())
    except IntegrityError as exc:
        raise Conflict(f"a config named {fields.get('name')!r} already exists") from exc


async def get(session: AsyncSession, config_id: int) -> ConfigRow:
    config = await find(session, config_id)
    if config is None:
        raise NotFound("config", config_id)
    return config


async def find(session: AsyncSession, config_id: int) -> ConfigRow | None:
    found = (await session.execute(_BY_ID, {"config_id": config_id})).first()
    return None if found is None else ConfigRow(*found)


async def get_many(session: AsyncSession, config_ids: Collection[int]) -> dict[int, ConfigRow]:
    if not config_ids:
        return {}
    found = await session.execute(_ROW.where(_TABLE.c.id.in_(list(config_ids))))
    return {row.id: row for row in _rows(found.all())}


async def get_by_name(session: AsyncSession, name: str) -> ConfigRow | None:
    found = (await session.execute(_ROW.where(_TABLE.c.name == name))).first()
    return None if found is None else ConfigRow(*found)


async def list_page(
    session: AsyncSession,
    *,
    task_type: str | None = None,
    scheduler_type: SchedulerType | None = None,
    q: str | None = None,
    ids: Collection[int] | None = None,
    after: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page[ConfigRow]:
    """Filtered page, newest first. ``ids`` restricts to a set (e.g. configs with a status);
    ``after`` (a config id, keyset cursor) starts the page below that id, ``offset`` then
    counting past it; the total is of every matching config, cursor or not."""
    if ids is not None and not ids:
        return Page(items=[], total=0, limit=limit, offset=offset)
    stmt, total_of = _page(_ROW, task_type, scheduler_type, q, ids, after)

    return await fetch_rows(
        on_session(session),
        stmt,
        ConfigRow,
        limit=limit,
        offset=offset,
        total_of=total_of,
        cursor=after is not None,
    )


# --- the API's reads, through its RowReader (db/rows.py: asyncpg directly on PostgreSQL) ---


async def get_row(rows: RowReader, config_id: int) -> ConfigRow:
    """``get`` through the API's ``RowReader``: no session, no transaction."""
    found = await rows.one(_BY_ID, config_id=config_id)
    if found is None:
        raise NotFound("config", config_id)
    return ConfigRow(*found)


async def list_rows(
    rows: RowReader,
    *,
    task_type: str | None = None,
    scheduler_type: SchedulerType | None = None,
    q: str | None = None,
    ids: Collection[int] | None = None,
    after: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page[ConfigRow]:
    """``list_page`` through the API's ``RowReader``."""
    if ids is not None and not ids:
        return Page(items=[], total=0, limit=limit, offset=offset)
    stmt, total_of = _page(_ROW, task_type, scheduler_type, q, ids, after)
    return await fetch_rows(
        rows.all,
        stmt,
        ConfigRow,
        limit=limit,
        offset=offset,
        total_of=total_of,
        cursor=after is not None,
    )


# The kept number of configs (migration 0002: triggers keep it exact, in the transaction).
_COUNTER = select(TaskConfigCount.total).where(TaskConfigCount.id == 1)


def _page(
    stmt: Select[Any],
    task_type: str | None,
    scheduler_type: SchedulerType | None,
    q: str | None,
    ids: Collection[int] | None,
    after: int | None,
) -> tuple[Select[Any], Select[Any] | None]:
    """The page's statement and its total's (None: the statement's own count). Unfiltered,
    the total is the counter (O(1), where ``count(*)`` reads every row); past a cursor it is
    still the count of every matching config, not of those below the cursor. The cursor is
    a range on the primary key: the page is read from the index at that id, however deep."""
    filtered = _filtered(stmt, task_type, scheduler_type, q, ids)
    unfiltered = task_type is None and scheduler_type is None and not q and ids is None
    total_of = _COUNTER if unfiltered else None
    if after is None:
        return filtered, total_of
    if total_of is None:
        total_of = count_of(filtered)
    return filtered.where(TaskConfig.id < after), total_of


def _filtered(
    stmt: Select[Any],
    task_type: str | None,
    scheduler_type: SchedulerType | None,
    q: str | None,
    ids: Collection[int] | None,
) -> Select[Any]:
    if task_type is not None:
        stmt = stmt.where(TaskConfig.task_type == task_type)
    if scheduler_type is not None:
        stmt = stmt.where(TaskConfig.scheduler_type == scheduler_type)
    if q:
        pattern = f"%{_escape_like(q.lower())}%"
        stmt = stmt.where(
            or_(
                func.lower(TaskConfig.name).like(pattern, escape="\\"),
                func.lower(func.coalesce(TaskConfig.description, "")).like(pattern, escape="\\"),
            )
        )
    if ids is not None:
        stmt = stmt.where(TaskConfig.id.in_(list(ids)))
    return stmt.order_by(TaskConfig.id.desc())


async def all_rows(session: AsyncSession) -> list[ConfigRow]:
    """Every config (schedules as code: the export, and what an apply compares with)."""
    return _rows((await session.execute(_ROW.order_by(_TABLE.c.id))).all())


async def all_ids(session: AsyncSession) -> list[int]:
    return list(await session.scalars(select(TaskConfig.id).order_by(TaskConfig.id)))


async def count(session: AsyncSession) -> int:
    """The number of configs, from the kept counter: O(1), exact in this transaction too."""
    return int(await session.scalar(_COUNTER) or 0)


async def update(
    session: AsyncSession,
    config_id: int,
    changes: Mapping[str, Any],
    *,
    updated_at: datetime | None = None,
    if_updated_at: datetime | None = None,
) -> ConfigRow | None:
    """Apply a subset of the editable fields (``updated_at``: now, unless given); a taken
    name raises Conflict, a missing config NotFound. With ``if_updated_at`` the row changes
    only if it was last updated then, and None answers that it was not (an undo that a
    later update overtook)."""
    _check_fields(changes)
    stmt = sql_update(_TABLE).where(_TABLE.c.id == config_id)
    if if_updated_at is not None:
        stmt = stmt.where(_TABLE.c.updated_at == if_updated_at)
    values = {**changes, "updated_at": updated_at or utcnow()}
    try:
        async with session.begin_nested():
            found = (await session.execute(stmt.values(**values).returning(*_TABLE.c))).first()
    except IntegrityError as exc:
        raise Conflict(f"a config named {changes.get('name')!r} already exists") from exc
    if found is None and if_updated_at is None:
        raise NotFound("config", config_id)
    return None if found is None else ConfigRow(*found)


async def delete(session: AsyncSession, config_id: int) -> None:
    """Delete a config; its execution records go with it (ON DELETE CASCADE)."""
    result = await session.execute(sql_delete(_TABLE).where(_TABLE.c.id == config_id))
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise NotFound("config", config_id)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
