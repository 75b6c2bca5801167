"""Execution-record data access: idempotent inserts, lists, stats, purge in batches.

Only the worker's recorder writes rows (ARCHITECTURE.md); the API reads them and the
retention task purges them.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Interval,
    Select,
    and_,
    cast,
    delete,
    func,
    literal,
    literal_column,
    select,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taskplane.db.models import TaskConfig, TaskExecution, UTCDateTime, utcnow
from taskplane.db.pagination import fetch_page
from taskplane.enums import Trigger
from taskplane.errors import NotFound
from taskplane.pages import Page

INSERT_CHUNK = 500  # rows per INSERT statement (SQLite bound-parameter limits)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ExecutionRecord:
    """What the recorder writes for one attempt; (task_id, attempt) is its identity."""

    config_id: int
    task_id: str
    task_type: str
    trigger: Trigger
    is_success: bool
    attempt: int
    started_at: datetime
    completed_at: datetime
    duration_seconds: float
    result: dict[str, Any] | None = None
    error_message: str | None = None
    traceback: str | None = None
    worker: str | None = None


@dataclass(frozen=True, slots=True)
class ExecutionStats:
    total: int
    succeeded: int
    failed: int
    success_rate: float | None
    avg_duration_seconds: float | None
    p95_duration_seconds: float | None
    last_run_at: datetime | None


_RECORD_FIELDS = tuple(ExecutionRecord.__dataclass_fields__)


def _insert_ignoring_duplicates(session: AsyncSession) -> Any:
    """One statement for every batch size: executed with a list of rows it runs as
    executemany ("insertmanyvalues"), so SQLAlchemy compiles it once and caches it."""
    dialect = session.get_bind().dialect.name
    builder = pg_insert if dialect == "postgresql" else sqlite_insert
    return (
        builder(TaskExecution)
        .on_conflict_do_nothing(index_elements=["task_id", "attempt"])
        .returning(TaskExecution.task_id, TaskExecution.attempt, TaskExecution.id)
    )


async def insert_new(
    session: AsyncSession, records: Sequence[ExecutionRecord]
) -> set[tuple[str, int]]:
    """``insert_new_with_ids`` without the ids: the (task_id, attempt) of the new rows."""
    return set(await insert_new_with_ids(session, records))


async def insert_new_with_ids(
    session: AsyncSession, records: Sequence[ExecutionRecord]
) -> dict[tuple[str, int], int]:
    """Insert records, skipping any (task_id, attempt) already there; returns the row id of
    each (task_id, attempt) this call inserted.

    Records whose config no longer exists are dropped with one log line per config (a config
    deleted while its task ran takes its history with it), so one orphan never blocks a
    batch.
    """
    if not records:
        return {}
    config_ids = {r.config_id for r in records}
    existing = set(
        await session.scalars(select(TaskConfig.id).where(TaskConfig.id.in_(config_ids)))
    )
    # a shallow dict per record: dataclasses.asdict would deep-copy every result
    for late in sorted(config_ids - existing):
        log.info(
            "execution records of a deleted config dropped",
            extra={"config_id": late, "records": sum(r.config_id == late for r in records)},
        )
    rows = [{f: getattr(r, f) for f in _RECORD_FIELDS} for r in records if r.config_id in existing]
    inserted: dict[tuple[str, int], int] = {}
    stmt = _insert_ignoring_duplicates(session)
    for start in range(0, len(rows), INSERT_CHUNK):
        result = await session.execute(stmt, rows[start : start + INSERT_CHUNK])
        inserted.update(((task_id, attempt), row_id) for task_id, attempt, row_id in result.all())
    return inserted


async def insert_many(session: AsyncSession, records: Sequence[ExecutionRecord]) -> int:
    """Insert records, skipping duplicates and orphans (see ``insert_new``); returns how
    many rows were inserted."""
    return len(await insert_new(session, records))


async def insert_once(session: AsyncSession, record: ExecutionRecord) -> bool:
    """Insert one record; False when (task_id, attempt) was already recorded."""
    return await insert_many(session, [record]) == 1


async def recorded_task_ids(session: AsyncSession, task_ids: Collection[str]) -> set[str]:
    """Which of ``task_ids`` have an execution record (any attempt): one query on the
    (task_id, attempt) unique index (a backfill's ``already_ran``)."""
    if not task_ids:
        return set()
    found = await session.scalars(
        select(TaskExecution.task_id).where(TaskExecution.task_id.in_(list(task_ids))).distinct()
    )
    return set(found)


async def get(session: AsyncSession, execution_id: int) -> TaskExecution:
    row = await session.get(TaskExecution, execution_id)
    if row is None:
        raise NotFound("execution", execution_id)
    return row


def _filtered(
    *,
    config_id: int | None = None,
    is_success: bool | None = None,
    trigger: Trigger | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Select[Any]:
    conditions = []
    if config_id is not None:
        conditions.append(TaskExecution.config_id == config_id)
    if is_success is not None:
        conditions.append(TaskExecution.is_success == is_success)
    if trigger is not None:
        conditions.append(TaskExecution.trigger == trigger)
    if since is not None:
        conditions.append(TaskExecution.started_at >= since)
    if until is not None:
        conditions.append(TaskExecution.started_at < until)
    return select(TaskExecution).where(and_(True, *conditions))


async def list_page(
    session: AsyncSession,
    *,
    config_id: int | None = None,
    is_success: bool | None = None,
    trigger: Trigger | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page[TaskExecution]:
    """Filtered page, newest first (by start time, then id)."""
    stmt = _filtered(
        config_id=config_id, is_success=is_success, trigger=trigger, since=since, until=until
    ).order_by(TaskExecution.started_at.desc(), TaskExecution.id.desc())
    return await fetch_page(session, stmt, limit=limit, offset=offset)


async def recent(session: AsyncSession, *, limit: int = 20, offset: int = 0) -> Page[TaskExecution]:
    return await list_page(session, limit=limit, offset=offset)


async def failed(session: AsyncSession, *, limit: int = 20, offset: int = 0) -> Page[TaskExecution]:
    return await list_page(session, is_success=False, limit=limit, offset=offset)


async def count(session: AsyncSession, *, since: datetime | None = None) -> int:
    stmt = select(func.count()).select_from(TaskExecution)
    if since is not None:
        stmt = stmt.where(TaskExecution.started_at >= since)
    return int(await session.scalar(stmt) or 0)


async def outcome_counts(session: AsyncSession, *, since: datetime) -> tuple[int, int]:
    """(total, failed) of the executions started since ``since``: one aggregate, no sort
    (``stats`` ranks every duration for its p95: 4.7 s at 1,000,000 rows in a day, B8)."""
    row = (
        await session.execute(
            select(
                func.count(),
                func.coalesce(func.sum(cast(TaskExecution.is_success, Integer)), 0),
            ).where(TaskExecution.started_at >= since)
        )
    ).one()
    total = int(row[0])
    return total, total - int(row[1])


async def stats(
    session: AsyncSession, *, config_id: int | None = None, since: datetime | None = None
) -> ExecutionStats:
    """Totals, success rate, mean and p95 duration and last run, all computed in SQL.

    p95 is the nearest-rank percentile: the ceil(0.95 * n)-th smallest duration, the same
    figure on PostgreSQL and SQLite.
    """
    base = _filtered(config_id=config_id, since=since).subquery()
    agg = (
        await session.execute(
            select(
                func.count(),
                func.coalesce(func.sum(cast(base.c.is_success, Integer)), 0),
                func.avg(base.c.duration_seconds),
                func.max(base.c.started_at),
            )
        )
    ).one()
    total, succeeded = int(agg[0]), int(agg[1])
    if total == 0:
        return ExecutionStats(0, 0, 0, None, None, None, None)
    ranked = select(
        base.c.duration_seconds,
        func.row_number().over(order_by=base.c.duration_seconds).label("rn"),
    ).subquery()
    rank = (95 * total + 99) // 100
    p95 = await session.scalar(select(ranked.c.duration_seconds).where(ranked.c.rn == rank))
    last_run_at: datetime | None = agg[3]
    return ExecutionStats(
        total=total,
        succeeded=succeeded,
        failed=total - succeeded,
        success_rate=succeeded / total,
        avg_duration_seconds=float(agg[2]),
        p95_duration_seconds=float(p95) if p95 is not None else None,
        last_run_at=last_run_at,
    )


@dataclass(frozen=True, slots=True)
class Bucket:
    start: datetime
    ok: int
    failed: int


@dataclass(frozen=True, slots=True)
class Histogram:
    """Executions started in ``[since, until)`` counted per bucket and outcome: one entry per
    bucket, empty ones too, so its size depends on the span, never on the rows."""

    since: datetime
    until: datetime
    bucket_seconds: int
    buckets: list[Bucket]

    @property
    def total(self) -> int:
        return sum(b.ok + b.failed for b in self.buckets)

    @property
    def failed(self) -> int:
        return sum(b.failed for b in self.buckets)


def _bucket_of(session: AsyncSession, since: datetime, bucket_seconds: int) -> ColumnElement[Any]:
    """Which bucket an execution's start falls in, in SQL.

    PostgreSQL: ``date_bin`` (the bucket's start; 2.9x faster than numeric epoch arithmetic
    over 1,000,000 rows: 0.61 s against 1.74 s, EXPLAIN ANALYZE, jit off). SQLite keeps the
    UTC instant as text; julianday reads it as a float day number (to ~50 us), rounded to
    whole milliseconds so a bucket's first instant stays in it: the bucket's number.
    """
    if session.get_bind().dialect.name == "postgresql":
        step = literal(timedelta(seconds=bucket_seconds), Interval)
        return func.date_bin(step, TaskExecution.started_at, literal(since, UTCDateTime))
    epoch_ms = func.round((func.julianday(TaskExecution.started_at) - 2440587.5) * 86_400_000.0)
    since_ms = literal(round(since.timestamp() * 1000), BigInteger)
    return func.floor((epoch_ms - since_ms) / (bucket_seconds * 1000.0))


def histogram_statement(
    session: AsyncSession,
    *,
    since: datetime,
    until: datetime,
    bucket_seconds: int,
    config_id: int | None = None,
) -> Select[Any]:
    """(bucket, is_success, count) for executions started in ``[since, until)``; the bucket
    is its start (PostgreSQL) or its number (SQLite)."""
    bucket = _bucket_of(session, since, bucket_seconds).label("n")
    return (
        _filtered(config_id=config_id, since=since, until=until)
        .with_only_columns(bucket, TaskExecution.is_success, func.count())
        .group_by(literal_column("n"), TaskExecution.is_success)
    )


async def histogram(
    session: AsyncSession,
    *,
    since: datetime,
    until: datetime,
    bucket_seconds: int,
    config_id: int | None = None,
) -> Histogram:
    """Counts per bucket and outcome, grouped in the database: a range scan of the
    (started_at, is_success) index (config_id, started_at with a config), no row leaves it."""
    span = (until - since).total_seconds()
    count = max(1, -(-int(span) // bucket_seconds))
    stmt = histogram_statement(
        session, since=since, until=until, bucket_seconds=bucket_seconds, config_id=config_id
    )
    ok = [0] * count
    failed = [0] * count
    for n, is_success, total in (await session.execute(stmt)).all():
        if isinstance(n, datetime):
            n = (n - since).total_seconds() // bucket_seconds
        slot = min(max(int(n), 0), count - 1)
        (ok if is_success else failed)[slot] += int(total)
    step = timedelta(seconds=bucket_seconds)
    return Histogram(
        since=since,
        until=until,
        bucket_seconds=bucket_seconds,
        buckets=[Bucket(since + i * step, ok[i], failed[i]) for i in range(count)],
    )


async def purge_older_than(
    session_factory: async_sessionmaker[AsyncSession], *, days: int, batch_size: int = 1000
) -> int:
    """Delete records that completed more than ``days`` days ago, one committed batch at a
    time so a large purge never holds one long lock; returns how many were deleted."""
    if days < 0:
        raise ValueError("days must be >= 0")
    cutoff = utcnow() - timedelta(days=days)
    deleted = 0
    while True:
        async with session_factory() as session, session.begin():
            ids = select(TaskExecution.id).where(TaskExecution.completed_at < cutoff)
            batch = ids.order_by(TaskExecution.id).limit(batch_size).scalar_subquery()
            result: Any = await session.execute(
                delete(TaskExecution)
                .where(TaskExecution.id.in_(batch))
                .returning(literal_column("1"))
            )
            n = len(result.all())
        deleted += n
        if n < batch_size:
            return deleted
