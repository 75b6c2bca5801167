"""Config data access. The caller owns the transaction: these flush, never commit."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from sqlalchemy import Select, bindparam, func, or_, select
from sqlalchemy import delete as sql_delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from taskplane.db.models import TaskConfig, TaskConfigCount, utcnow
from taskplane.db.pagination import count_of, fetch_page, fetch_rows
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
EDITABLE_FIELDS = SCHEDULE_FIELDS | {"name", "description"}


async def create(session: AsyncSession, **fields: Any) -> TaskConfig:
    """Insert a config; a taken name raises Conflict (also when two requests race)."""
    unknown = set(fields) - EDITABLE_FIELDS
    if unknown:
        raise TypeError(f"unknown config fields: {sorted(unknown)}")
    config = TaskConfig(**fields)
    try:
        async with session.begin_nested():  # a failed insert is undone alone (savepoint)
            session.add(config)
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(f"a config named {fields.get('name')!r} already exists") from exc
    return config


async def get(session: AsyncSession, config_id: int) -> TaskConfig:
    config = await session.get(TaskConfig, config_id)
    if config is None:
        raise NotFound("config", config_id)
    return config


async def find(session: AsyncSession, config_id: int) -> TaskConfig | None:
    return await session.get(TaskConfig, config_id)


async def get_many(session: AsyncSession, config_ids: Collection[int]) -> dict[int, TaskConfig]:
    if not config_ids:
        return {}
    rows = await session.scalars(select(TaskConfig).where(TaskConfig.id.in_(list(config_ids))))
    return {row.id: row for row in rows}


async def get_by_name(session: AsyncSession, name: str) -> TaskConfig | None:
    return await session.scalar(select(TaskConfig).where(TaskConfig.name == name))


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
) -> Page[TaskConfig]:
    """Filtered page, newest first. ``ids`` restricts to a set (e.g. configs with a status);
    ``after`` (a config id, keyset cursor) starts the page below that id, ``offset`` then
    counting past it; the total is of every matching config, cursor or not."""
    if ids is not None and not ids:
        return Page(items=[], total=0, limit=limit, offset=offset)
    stmt, total_of = _page(select(TaskConfig), task_type, scheduler_type, q, ids, after)
    return await fetch_page(
        session, stmt, limit=limit, offset=offset, total_of=total_of, cursor=after is not None
    )


# --- reads on a plain connection (db/reads.py): rows, not ORM objects ----------------------

_TABLE = TaskConfig.__table__
_BY_ID = select(_TABLE).where(_TABLE.c.id == bindparam("config_id"))  # built once


async def get_row(rows: RowReader, config_id: int) -> Any:
    """A config as a row (its columns by name, as on the ORM object); NotFound if missing.
    Read by the API's ``RowReader`` (asyncpg directly on PostgreSQL: db/rows.py)."""
    row = await rows.one(_BY_ID, config_id=config_id)
    if row is None:
        raise NotFound("config", config_id)
    return row


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
) -> Page[Any]:
    """``list_page`` as rows, in one statement (page and total), read by the API's
    ``RowReader`` (asyncpg directly on PostgreSQL: db/rows.py)."""
    if ids is not None and not ids:
        return Page(items=[], total=0, limit=limit, offset=offset)
    stmt, total_of = _page(select(_TABLE), task_type, scheduler_type, q, ids, after)
    return await fetch_rows(
        rows, stmt, limit=limit, offset=offset, total_of=total_of, cursor=after is not None
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


async def all_ids(session: AsyncSession) -> list[int]:
    return list(await session.scalars(select(TaskConfig.id).order_by(TaskConfig.id)))


async def count(session: AsyncSession) -> int:
    """The number of configs, from the kept counter: O(1), exact in this transaction too."""
    return int(await session.scalar(_COUNTER) or 0)


async def update(
    session: AsyncSession, config: TaskConfig, changes: Mapping[str, Any]
) -> TaskConfig:
    """Apply a subset of the editable fields; a taken name raises Conflict."""
    unknown = set(changes) - EDITABLE_FIELDS
    if unknown:
        raise TypeError(f"unknown config fields: {sorted(unknown)}")
    for field, value in changes.items():
        setattr(config, field, value)
    config.updated_at = utcnow()
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(f"a config named {changes.get('name')!r} already exists") from exc
    return config


async def delete(session: AsyncSession, config_id: int) -> None:
    """Delete a config; its execution records go with it (ON DELETE CASCADE)."""
    result = await session.execute(sql_delete(TaskConfig).where(TaskConfig.id == config_id))
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise NotFound("config", config_id)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
