"""The API's one-row reader (db/rows.py): on PostgreSQL through asyncpg directly, the same row
as SQLAlchemy's on the same PostgreSQL, value for value and type for type; on SQLite through
SQLAlchemy, the values written; PostgreSQL unreachable or a connection it closed is a
BackendUnavailable (503), and the next read works.

The comparisons with SQLAlchemy run on the run's database, which is always PostgreSQL (the
machine's or a private cluster, tests/services.py): comparing SQLAlchemy with itself on SQLite
would prove nothing about the asyncpg path."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from cachetools import LRUCache
from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import asyncpg as postgresql_asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from taskplane.db import configs
from taskplane.db.reads import read_connection
from taskplane.db.rows import APPLICATION_NAME, SHAPES_KEPT, RowReader, plan
from taskplane.db.session import make_engine
from taskplane.embedded_redis import free_port
from taskplane.enums import SchedulerType
from taskplane.errors import BackendUnavailable, NotFound
from tests import services as test_services
from tests.conftest import make_test_settings

Sessions = async_sessionmaker[AsyncSession]
FIELDS = configs._TABLE.columns.keys()
PARAMETERS = {"message": 'ü \u2028 "q"', "n": [1, 2.5, None, {"deep": True}]}
SCHEDULE = {"expression": "0 9 * * 1-5", "timezone": "Europe/Berlin"}


async def _reader(engine: AsyncEngine) -> AsyncIterator[RowReader]:
    rows = RowReader(engine, max_size=2)
    yield rows
    await rows.close()


@pytest.fixture
async def direct(sessions: Sessions, engine: AsyncEngine) -> AsyncIterator[RowReader]:
    """The reader on the run's PostgreSQL: asyncpg directly."""
    assert engine.dialect.name == "postgresql", "the run's database is PostgreSQL"
    async for rows in _reader(engine):
        assert rows.direct
        yield rows


@pytest.fixture
async def reader(any_sessions: Sessions) -> AsyncIterator[RowReader]:
    async for rows in _reader(any_sessions.kw["bind"]):
        yield rows


async def _create(sessions: Sessions, **over: Any) -> int:
    fields: dict[str, Any] = {
        "name": "reader-1",
        "description": None,
        "task_type": "echo",
        "scheduler_type": SchedulerType.CRON,
        "schedule_config": SCHEDULE,
        "parameters": PARAMETERS,
        "timeout_seconds": None,
        **over,
    }
    async with sessions() as s, s.begin():
        return (await configs.create(s, **fields)).id


async def _through_sqlalchemy(engine: AsyncEngine, config_id: int) -> Any:
    async with read_connection(engine) as conn:
        return (await conn.execute(configs._BY_ID, {"config_id": config_id})).first()


async def test_on_postgresql_the_row_is_sqlalchemys_value_for_value(
    sessions: Sessions, engine: AsyncEngine, direct: RowReader
) -> None:
    for over in ({}, {"name": "reader-2", "description": "d", "timeout_seconds": 30}):
        config_id = await _create(sessions, **over)
        row = await configs.get_row(direct, config_id)
        expected = await _through_sqlalchemy(engine, config_id)
        for name in FIELDS:
            got, want = getattr(row, name), getattr(expected, name)
            assert got == want, name
            assert type(got) is type(want), name
        assert row.scheduler_type is SchedulerType.CRON
        assert row.created_at.tzinfo is UTC


@pytest.mark.parametrize("any_sessions", ["sqlite"], indirect=True)
async def test_on_sqlite_the_reader_goes_through_sqlalchemy_and_reads_what_was_written(
    any_sessions: Sessions, reader: RowReader
) -> None:
    assert any_sessions.kw["bind"].dialect.name == "sqlite" and not reader.direct
    config_id = await _create(any_sessions, name="sqlite-1", timeout_seconds=30)
    row = await configs.get_row(reader, config_id)
    assert (row.id, row.name, row.task_type, row.timeout_seconds) == (
        config_id,
        "sqlite-1",
        "echo",
        30,
    )
    assert row.scheduler_type is SchedulerType.CRON
    assert (row.parameters, row.schedule_config) == (PARAMETERS, SCHEDULE)
    assert isinstance(row.created_at, datetime) and row.created_at.tzinfo is UTC


async def test_a_missing_row_is_not_found(any_sessions: Sessions, reader: RowReader) -> None:
    assert await reader.one(configs._BY_ID, config_id=987_654) is None
    with pytest.raises(NotFound):
        await configs.get_row(reader, 987_654)


async def test_postgresql_unreachable_is_a_503(services: test_services.TestServices) -> None:
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/nothing"
    engine = make_engine(make_test_settings(services, database_url=url))
    rows = RowReader(engine, max_size=2)
    try:
        with pytest.raises(BackendUnavailable) as caught:
            await rows.one(configs._BY_ID, config_id=1)
        assert caught.value.component == "PostgreSQL"
    finally:
        await rows.close()
        await engine.dispose()


async def _terminate_readers(engine: AsyncEngine) -> int:
    """What a PostgreSQL restart does to the reader's connections; how many it ended."""
    async with read_connection(engine) as conn:
        ended = await conn.execute(
            text(
                "select pg_terminate_backend(pid) from pg_stat_activity"
                " where datname = current_database() and application_name = :name"
            ),
            {"name": APPLICATION_NAME},
        )
        return len(ended.all())


@pytest.fixture
async def one_connection(engine: AsyncEngine) -> AsyncIterator[RowReader]:
    """A reader on the run's PostgreSQL with a pool of one connection."""
    rows = RowReader(engine, max_size=1)
    yield rows
    await rows.close()


async def test_a_connection_postgresql_closed_is_replaced_by_the_pool(
    sessions: Sessions, engine: AsyncEngine, one_connection: RowReader
) -> None:
    config_id = await _create(sessions)
    assert (await configs.get_row(one_connection, config_id)).id == config_id
    assert await _terminate_readers(engine) == 1
    # at once, the read may race PostgreSQL's goodbye (a 503, never another error);
    # the read after it is on a new connection
    with contextlib.suppress(BackendUnavailable):
        await configs.get_row(one_connection, config_id)
    assert (await configs.get_row(one_connection, config_id)).id == config_id


async def test_a_read_cut_off_by_postgresql_is_a_503_and_the_next_one_works(
    sessions: Sessions, engine: AsyncEngine, one_connection: RowReader
) -> None:
    config_id = await _create(sessions)
    slow = asyncio.create_task(one_connection.one(select(func.pg_sleep(30))))
    for _ in range(100):  # until the sleep runs on the reader's one connection
        await asyncio.sleep(0.05)
        if await _terminate_readers(engine):
            break
    with pytest.raises(BackendUnavailable) as caught:
        await slow
    assert caught.value.component == "PostgreSQL"
    assert (await configs.get_row(one_connection, config_id)).id == config_id


async def test_on_postgresql_a_filtered_page_is_sqlalchemys_row_for_row(
    sessions: Sessions, engine: AsyncEngine, direct: RowReader
) -> None:
    reader = direct
    ids = [
        await _create(sessions, name=f"page-{i}", task_type=t)
        for i, t in enumerate(["echo", "sleep", "echo", "echo", "sleep"])
    ]
    shapes = [
        select(configs._TABLE).where(configs._TABLE.c.task_type == "echo").order_by("id").limit(2),
        select(configs._TABLE).where(configs._TABLE.c.task_type == "sleep").order_by("id"),
        select(configs._TABLE).where(configs._TABLE.c.id.in_(ids[:3])),  # SQLAlchemy's IN
        select(configs._TABLE, func.count().over().label("_n")).order_by(configs._TABLE.c.id),
    ]
    for stmt in shapes * 2:  # the second time from the kept shapes
        async with read_connection(engine) as conn:
            expected = (await conn.execute(stmt)).all()
        got = await reader.all(stmt)
        assert [tuple(r) for r in got] == [tuple(r) for r in expected]
        assert [type(v) for r in got for v in r] == [type(v) for r in expected for v in r]


# --- what the reader takes of SQLAlchemy's internals (``rows.plan``), pinned ---------------

PG = postgresql_asyncpg.dialect()  # type: ignore[no-untyped-call]


def test_plan_compiles_a_shape_once_and_binds_each_executions_values() -> None:
    """``plan`` leans on SQLAlchemy's cache key (values left out), the compiled statement's
    ``positiontup`` / ``binds`` / post-compile parameters, and ``construct_params`` with
    the key's extracted parameters. If any of them changes shape, this fails (and
    pyproject's upper bound on SQLAlchemy keeps a minor release from doing it unseen)."""
    kept: dict[Any, Any] = {}
    planned = plan(configs._BY_ID, {"config_id": 7}, PG, kept)
    assert planned is not None
    shape, args = planned
    columns = ", ".join(f"task_config.{name}" for name in FIELDS)
    assert shape.sql == f"SELECT {columns} \nFROM task_config \nWHERE task_config.id = $1::BIGINT"
    assert (shape.names, args) == (("config_id",), [7])
    again = plan(configs._BY_ID, {"config_id": 8}, PG, kept)
    assert again is not None and again[0] is shape and again[1] == [8]
    # a literal in the statement is a parameter of the same shape, its value per execution
    by_name = [
        plan(select(configs._TABLE.c.id).where(configs._TABLE.c.name == name), {}, PG, kept)
        for name in ("a", "b")
    ]
    assert by_name[0] is not None and by_name[1] is not None
    assert by_name[0][0] is by_name[1][0] and [by_name[0][1], by_name[1][1]] == [["a"], ["b"]]
    assert len(kept) == 2
    # an expanding IN list is SQLAlchemy's to render, each time
    ids_in = select(configs._TABLE.c.id).where(configs._TABLE.c.id.in_([1, 2]))
    assert plan(ids_in, {}, PG, kept) is None


def test_plans_rows_are_processed_as_sqlalchemys_result_types() -> None:
    planned = plan(configs._BY_ID, {"config_id": 1}, PG, {})
    assert planned is not None
    naive = datetime(2026, 1, 2, 3, 4, 5)
    record = [1, "n", None, "echo", "cron", {}, {}, 0, None, 0, naive, naive]
    row = configs.ConfigRow(*planned[0].row(record))
    assert row.scheduler_type is SchedulerType.CRON
    assert row.created_at == naive.replace(tzinfo=UTC) and row.updated_at.tzinfo is UTC


def test_a_config_row_is_the_tables_columns_in_order() -> None:
    """Every reader makes ``ConfigRow(*values)`` from ``select(table)``: a column added to
    the table and not to ``ConfigRow`` (or in another order) fails here."""
    assert configs.ConfigRow._fields == tuple(FIELDS)


def test_the_reader_keeps_a_bounded_number_of_shapes_least_recently_used_out_first() -> None:
    kept: LRUCache[Any, Any] = LRUCache(2)
    by_name = select(configs._TABLE.c.id).where(configs._TABLE.c.name == "a")
    by_id = select(configs._TABLE.c.id).where(configs._TABLE.c.id == 1)
    by_type = select(configs._TABLE.c.id).where(configs._TABLE.c.task_type == "echo")
    first_name, first_id = plan(by_name, {}, PG, kept), plan(by_id, {}, PG, kept)
    plan(by_name, {}, PG, kept)  # used again: the newest
    plan(by_type, {}, PG, kept)  # one too many: the least recently used (by_id) goes
    assert len(kept) == 2
    again_name, again_id = plan(by_name, {}, PG, kept), plan(by_id, {}, PG, kept)
    assert first_name is not None and again_name is not None and first_id is not None
    assert again_name[0] is first_name[0]  # kept
    assert again_id is not None and again_id[0] is not first_id[0]  # compiled anew


def test_a_reader_keeps_its_shapes_in_a_bounded_cache(engine: AsyncEngine) -> None:
    reader = RowReader(engine, max_size=2)
    assert isinstance(reader._shapes, LRUCache) and reader._shapes.maxsize == SHAPES_KEPT
