"""The kept config counter (migration 0002) and the keyset cursor, on the run's database and
on SQLite: the counter equals count(*) after every kind of change, totals agree with a
count(*) with and without filters, and paging by ``after`` yields what paging by offset
does."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from taskplane.db import configs
from taskplane.db.models import TaskConfig, TaskConfigCount
from taskplane.db.rows import RowReader
from taskplane.enums import SchedulerType
from taskplane.pages import Page

Sessions = async_sessionmaker[AsyncSession]


def _row(i: int, **over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": f"c{i:05d}",
        "description": "even" if i % 2 == 0 else None,
        "task_type": "echo" if i % 3 else "sleep",
        "scheduler_type": SchedulerType.INTERVAL if i % 4 else SchedulerType.MANUAL,
        "schedule_config": {"seconds": 10},
        "parameters": {},
    }
    return {**base, **over}


async def _counter(s: AsyncSession) -> int:
    return int(await s.scalar(select(TaskConfigCount.total)) or 0)


async def _exact(s: AsyncSession) -> int:
    return int(await s.scalar(select(func.count()).select_from(TaskConfig)) or 0)


async def _assert_exact(sessions: Sessions, expected: int) -> None:
    async with sessions() as s:
        assert await _exact(s) == expected
        assert await _counter(s) == expected
        assert await configs.count(s) == expected
        assert (await s.scalar(select(func.count()).select_from(TaskConfigCount))) == 1


async def _insert_many(sessions: Sessions, start: int, n: int) -> None:
    async with sessions() as s, s.begin():
        await s.execute(insert(TaskConfig), [_row(i) for i in range(start, start + n)])


async def test_single_creates_and_deletes_keep_it_exact(any_sessions: Sessions) -> None:
    await _assert_exact(any_sessions, 0)
    ids = []
    for i in range(3):
        async with any_sessions() as s, s.begin():
            ids.append((await configs.create(s, **_row(i))).id)
        await _assert_exact(any_sessions, i + 1)
    async with any_sessions() as s, s.begin():
        await configs.delete(s, ids[1])
    await _assert_exact(any_sessions, 2)
    async with any_sessions() as s, s.begin():
        await s.execute(delete(TaskConfig).where(TaskConfig.id == 10**9))  # deletes nothing
    await _assert_exact(any_sessions, 2)


async def test_a_multi_row_insert_and_a_delete_of_many(any_sessions: Sessions) -> None:
    await _insert_many(any_sessions, 0, 250)
    await _assert_exact(any_sessions, 250)
    async with any_sessions() as s, s.begin():
        await s.execute(insert(TaskConfig).values([_row(i) for i in range(250, 260)]))
    await _assert_exact(any_sessions, 260)
    async with any_sessions() as s, s.begin():
        result = await s.execute(delete(TaskConfig).where(TaskConfig.task_type == "sleep"))
        deleted = result.rowcount  # type: ignore[attr-defined]
    assert deleted == 87
    await _assert_exact(any_sessions, 260 - deleted)
    async with any_sessions() as s, s.begin():
        await s.execute(delete(TaskConfig))
    await _assert_exact(any_sessions, 0)


async def test_a_rolled_back_insert_leaves_it_unchanged(any_sessions: Sessions) -> None:
    await _insert_many(any_sessions, 0, 4)
    async with any_sessions() as s:
        async with s.begin():
            await s.execute(insert(TaskConfig), [_row(i) for i in range(10, 15)])
            assert await configs.count(s) == 9  # the transaction sees its own rows
            await s.rollback()
    await _assert_exact(any_sessions, 4)
    async with any_sessions() as s, s.begin():  # a failed savepoint (name taken) too
        await configs.create(s, **_row(20))
        with pytest.raises(Exception, match="already exists"):
            await configs.create(s, **_row(0))
    await _assert_exact(any_sessions, 5)


async def test_concurrent_creates_in_separate_transactions(any_sessions: Sessions) -> None:
    async def one(i: int) -> None:
        async with any_sessions() as s, s.begin():
            await configs.create(s, **_row(i))
            await asyncio.sleep(0)  # let the others interleave before the commit

    await asyncio.gather(*(one(i) for i in range(20)))
    await _assert_exact(any_sessions, 20)


async def test_deleting_the_counter_row_restores_it_counted(any_sessions: Sessions) -> None:
    """The counter heals itself: the suite wipes every table of the models, this one too."""
    await _insert_many(any_sessions, 0, 6)
    async with any_sessions() as s, s.begin():
        await s.execute(delete(TaskConfigCount))
    await _assert_exact(any_sessions, 6)
    async with any_sessions() as s, s.begin():  # the wipe's order: the counter first
        await s.execute(delete(TaskConfigCount))
        await s.execute(delete(TaskConfig))
    await _assert_exact(any_sessions, 0)
    await _insert_many(any_sessions, 0, 2)
    await _assert_exact(any_sessions, 2)


async def test_truncate_sets_it_to_zero(sessions: Sessions) -> None:
    async with sessions() as s:
        if s.get_bind().dialect.name != "postgresql":
            pytest.fail("this test needs the run's PostgreSQL (TRUNCATE)")
    await _insert_many(sessions, 0, 5)
    async with sessions() as s, s.begin():
        await s.execute(text("TRUNCATE task_config CASCADE"))
    await _assert_exact(sessions, 0)
    await _insert_many(sessions, 0, 3)
    async with sessions() as s, s.begin():  # both tables in one statement (the suite's wipe)
        await s.execute(text("TRUNCATE task_config, task_config_count CASCADE"))
    await _assert_exact(sessions, 0)
    await _insert_many(sessions, 0, 2)
    async with sessions() as s, s.begin():  # the counter alone: counted again
        await s.execute(text("TRUNCATE task_config_count"))
    await _assert_exact(sessions, 2)


FILTERS: list[dict[str, Any]] = [
    {},
    {"task_type": "sleep"},
    {"scheduler_type": SchedulerType.MANUAL},
    {"q": "even"},
    {"q": ""},
    {"task_type": "echo", "scheduler_type": SchedulerType.INTERVAL, "q": "c000"},
    {"task_type": "nope"},
]


def _matches(i: int, f: dict[str, Any]) -> bool:
    row = _row(i)
    if "task_type" in f and row["task_type"] != f["task_type"]:
        return False
    if "scheduler_type" in f and row["scheduler_type"] != f["scheduler_type"]:
        return False
    q = f.get("q")
    return not q or q in row["name"] or q in (row["description"] or "")


async def _all_pages(
    any_sessions: Sessions, f: dict[str, Any], limit: int, by_cursor: bool
) -> list[int]:
    seen: list[int] = []
    after: int | None = None
    async with any_sessions() as s:
        expected = len([i for i in range(150) if _matches(i, f)])
        while True:
            offset = 0 if by_cursor else len(seen)
            page: Page[Any] = await configs.list_page(
                s, **f, after=after, limit=limit, offset=offset
            )
            assert page.total == expected, (f, after, offset)
            if not page.items:
                return seen
            seen += [c.id for c in page.items]
            after = page.items[-1].id if by_cursor else None


async def test_totals_and_cursor_pages_agree_with_count_and_offset(
    any_sessions: Sessions,
) -> None:
    await _insert_many(any_sessions, 0, 150)
    for f in FILTERS:
        by_offset = await _all_pages(any_sessions, f, 7, by_cursor=False)
        by_cursor = await _all_pages(any_sessions, f, 7, by_cursor=True)
        assert by_cursor == by_offset
        assert by_offset == sorted(by_offset, reverse=True)
        assert len(by_offset) == len([i for i in range(150) if _matches(i, f)])
    async with any_sessions() as s:  # an id set (the status filter) with a cursor
        ids = [c.id for c in (await configs.list_page(s, limit=150)).items][::3]
        page = await configs.list_page(s, ids=ids, after=ids[4], limit=3)
        assert [c.id for c in page.items] == ids[5:8] and page.total == len(ids)


async def test_the_rows_variant_takes_the_cursor_and_an_offset_past_it(
    any_sessions: Sessions,
) -> None:
    await _insert_many(any_sessions, 0, 30)
    async with any_sessions() as s:
        newest_first = [c.id for c in (await configs.list_page(s, limit=100)).items]
        engine = s.bind
    assert isinstance(engine, AsyncEngine)
    conn = RowReader(engine, max_size=2)  # asyncpg directly on PostgreSQL (db/rows.py)
    try:
        page = await configs.list_rows(conn, after=newest_first[9], offset=2, limit=4)
        assert [r.id for r in page.items] == newest_first[12:16] and page.total == 30
        page = await configs.list_rows(conn, task_type="sleep", after=newest_first[9], limit=2)
        sleep = [r.id for r in (await configs.list_rows(conn, task_type="sleep")).items]
        assert [r.id for r in page.items] == [i for i in sleep if i < newest_first[9]][:2]
        assert page.total == len(sleep) == 10
        past = await configs.list_rows(conn, after=newest_first[-1])  # nothing below it
        assert past.items == [] and past.total == 30
        past = await configs.list_rows(conn, task_type="sleep", after=1, offset=5)
        assert past.items == [] and past.total == 10
        empty = await configs.list_rows(conn, task_type="nope", after=5)
        assert empty.items == [] and empty.total == 0
    finally:
        await conn.close()


async def test_one_counter_update_per_statement(sessions: Sessions) -> None:
    """PostgreSQL: a multi-row statement is one UPDATE of the counter (transition tables);
    a statement that changed no row none. (An executemany is a statement per row.)"""
    updates = text(
        "SELECT n_tup_upd FROM pg_stat_xact_user_tables WHERE relname = 'task_config_count'"
    )
    async with sessions() as s, s.begin():
        if s.get_bind().dialect.name != "postgresql":
            pytest.fail("this test needs the run's PostgreSQL (statement-level triggers)")
        before = int((await s.execute(updates)).scalar_one())
        await s.execute(insert(TaskConfig).values([_row(i) for i in range(400)]))
        assert int((await s.execute(updates)).scalar_one()) == before + 1
        await s.execute(delete(TaskConfig).where(TaskConfig.task_type == "sleep"))
        await s.execute(delete(TaskConfig).where(TaskConfig.task_type == "nope"))
        assert int((await s.execute(updates)).scalar_one()) == before + 2
        assert await configs.count(s) == await _exact(s) == 400 - 134
    await _assert_exact(sessions, 266)
