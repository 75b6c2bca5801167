"""Execution data access: idempotent inserts, filters, pages, stats checked by hand, purge."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taskplane.db import configs, executions
from taskplane.db.executions import ExecutionRecord
from taskplane.enums import SchedulerType, Trigger

Sessions = async_sessionmaker[AsyncSession]
T0 = datetime(2026, 1, 1, tzinfo=UTC)


async def _config(sessions: Sessions, name: str = "c") -> int:
    async with sessions() as s, s.begin():
        c = await configs.create(
            s,
            name=name,
            task_type="echo",
            scheduler_type=SchedulerType.MANUAL,
            schedule_config={},
            parameters={},
        )
        return c.id


def _rec(
    cid: int, n: int, *, ok: bool = True, duration: float = 1.0, **over: object
) -> ExecutionRecord:
    started = T0 + timedelta(minutes=n)
    values: dict[str, object] = {
        "config_id": cid,
        "task_id": f"task-{cid}-{n}",
        "task_type": "echo",
        "trigger": Trigger.SCHEDULED,
        "is_success": ok,
        "attempt": 1,
        "started_at": started,
        "completed_at": started + timedelta(seconds=duration),
        "duration_seconds": duration,
        "result": {"success": ok},
        "error_message": None if ok else "boom",
    }
    values.update(over)
    return ExecutionRecord(**values)  # type: ignore[arg-type]


async def test_insert_once_is_idempotent_per_task_and_attempt(any_sessions: Sessions) -> None:
    cid = await _config(any_sessions)
    async with any_sessions() as s, s.begin():
        assert await executions.insert_once(s, _rec(cid, 1)) is True
        assert await executions.insert_once(s, _rec(cid, 1)) is False
        assert await executions.insert_once(s, _rec(cid, 1, attempt=2)) is True
    async with any_sessions() as s:
        assert (await executions.list_page(s)).total == 2


async def test_insert_many_skips_duplicates_and_orphans(any_sessions: Sessions) -> None:
    cid = await _config(any_sessions)
    recs = [_rec(cid, n) for n in range(1200)]  # more than one INSERT chunk
    async with any_sessions() as s, s.begin():
        assert await executions.insert_many(s, recs[:10]) == 10
    async with any_sessions() as s, s.begin():
        inserted = await executions.insert_many(s, [*recs, _rec(cid + 999, 5)])
        assert inserted == 1190
    async with any_sessions() as s:
        assert (await executions.list_page(s)).total == 1200


async def test_filters_and_newest_first(any_sessions: Sessions) -> None:
    a = await _config(any_sessions, "a")
    b = await _config(any_sessions, "b")
    async with any_sessions() as s, s.begin():
        await executions.insert_many(
            s,
            [
                _rec(a, 1),
                _rec(a, 2, ok=False),
                _rec(a, 3, trigger=Trigger.MANUAL),
                _rec(b, 4, ok=False, trigger=Trigger.BATCH),
                _rec(b, 5, trigger=Trigger.IMMEDIATE),
            ],
        )
    async with any_sessions() as s:
        everything = await executions.list_page(s)
        assert [r.task_id for r in everything.items] == [
            f"task-{b}-5",
            f"task-{b}-4",
            f"task-{a}-3",
            f"task-{a}-2",
            f"task-{a}-1",
        ]
        assert (await executions.list_page(s, config_id=a)).total == 3
        assert (await executions.list_page(s, is_success=False)).total == 2
        assert (await executions.list_page(s, is_success=True, config_id=b)).total == 1
        assert (await executions.list_page(s, trigger=Trigger.BATCH)).total == 1
        since = await executions.list_page(s, since=T0 + timedelta(minutes=3))
        assert since.total == 3
        window = await executions.list_page(
            s, since=T0 + timedelta(minutes=2), until=T0 + timedelta(minutes=4)
        )
        assert [r.task_id for r in window.items] == [f"task-{a}-3", f"task-{a}-2"]
        page = await executions.list_page(s, limit=2, offset=2)
        assert page.total == 5 and [r.task_id for r in page.items] == [f"task-{a}-3", f"task-{a}-2"]
        assert (await executions.recent(s, limit=1)).items[0].task_id == f"task-{b}-5"
        failed = await executions.failed(s)
        assert [r.task_id for r in failed.items] == [f"task-{b}-4", f"task-{a}-2"]
        row = await executions.get(s, everything.items[0].id)
        assert row.started_at.tzinfo is not None


async def test_stats_match_hand_computed_values(any_sessions: Sessions) -> None:
    a = await _config(any_sessions, "a")
    b = await _config(any_sessions, "b")
    durations = [float(d) for d in range(1, 21)]  # 1..20 s
    async with any_sessions() as s, s.begin():
        await executions.insert_many(
            s, [_rec(a, i, ok=(i % 4 != 0), duration=d) for i, d in enumerate(durations, 1)]
        )
        await executions.insert_many(s, [_rec(b, 100, duration=500.0)])
    async with any_sessions() as s:
        st = await executions.stats(s, config_id=a)
        # i = 4, 8, 12, 16, 20 failed -> 15 of 20 succeeded
        assert (st.total, st.succeeded, st.failed) == (20, 15, 5)
        assert st.success_rate == pytest.approx(0.75)
        assert st.avg_duration_seconds == pytest.approx(10.5)
        assert st.p95_duration_seconds == pytest.approx(19.0)  # nearest rank: ceil(0.95*20)=19th
        assert st.last_run_at == T0 + timedelta(minutes=20)
        everything = await executions.stats(s)
        assert everything.total == 21 and everything.p95_duration_seconds == pytest.approx(20.0)
        since = await executions.stats(s, config_id=a, since=T0 + timedelta(minutes=11))
        assert since.total == 10 and since.avg_duration_seconds == pytest.approx(15.5)
        empty = await executions.stats(s, config_id=b + 1)
        assert empty.total == 0 and empty.success_rate is None
        assert empty.avg_duration_seconds is None and empty.p95_duration_seconds is None
        assert empty.last_run_at is None


async def test_purge_deletes_old_rows_in_batches(any_sessions: Sessions) -> None:
    cid = await _config(any_sessions)
    now = datetime.now(UTC)
    old = [
        _rec(cid, n, started_at=now - timedelta(days=10), completed_at=now - timedelta(days=10))
        for n in range(25)
    ]
    fresh = [
        _rec(cid, 100 + n, started_at=now - timedelta(hours=1), completed_at=now) for n in range(3)
    ]
    async with any_sessions() as s, s.begin():
        await executions.insert_many(s, old + fresh)
    assert await executions.purge_older_than(any_sessions, days=7, batch_size=10) == 25
    async with any_sessions() as s:
        assert (await executions.list_page(s)).total == 3
    assert await executions.purge_older_than(any_sessions, days=0, batch_size=10) == 3
    with pytest.raises(ValueError, match="days"):
        await executions.purge_older_than(any_sessions, days=-1)


async def test_insert_new_returns_exactly_the_rows_it_inserted(any_sessions: Sessions) -> None:
    cid = await _config(any_sessions)
    async with any_sessions() as s, s.begin():
        assert await executions.insert_new(s, [_rec(cid, 1)]) == {(f"task-{cid}-1", 1)}
    batch = [_rec(cid, 1), _rec(cid, 2), _rec(cid, 2), _rec(cid, 2, attempt=2), _rec(cid + 99, 3)]
    async with any_sessions() as s, s.begin():
        inserted = await executions.insert_new(s, batch)
    # the old row, the in-batch copy and the orphan are not reported
    assert inserted == {(f"task-{cid}-2", 1), (f"task-{cid}-2", 2)}


async def test_histogram_counts_each_bucket_and_outcome_and_lists_empty_buckets(
    any_sessions: Sessions,
) -> None:
    cid = await _config(any_sessions)
    other = await _config(any_sessions, "other")
    async with any_sessions() as s, s.begin():
        await executions.insert_many(
            s,
            [
                _rec(cid, 0),  # T0: the first bucket's first instant
                _rec(cid, 59, ok=False),  # still the first hour
                _rec(cid, 60),  # the second hour's first instant
                _rec(cid, 61, ok=False),
                _rec(cid, 62, ok=False),
                _rec(cid, 180),  # == until: outside
                _rec(cid, -1),  # before since: outside
                _rec(other, 30),
            ],
        )
    async with any_sessions() as s:
        found = await executions.histogram(
            s, since=T0, until=T0 + timedelta(hours=3), bucket_seconds=3600
        )
        one = await executions.histogram(
            s, since=T0, until=T0 + timedelta(hours=3), bucket_seconds=3600, config_id=other
        )
    assert [(b.start, b.ok, b.failed) for b in found.buckets] == [
        (T0, 2, 1),
        (T0 + timedelta(hours=1), 1, 2),
        (T0 + timedelta(hours=2), 0, 0),
    ]
    assert (found.total, found.failed) == (6, 3)
    assert [(b.ok, b.failed) for b in one.buckets] == [(1, 0), (0, 0), (0, 0)]


async def test_outcome_counts_are_total_and_failed_since_a_time(any_sessions: Sessions) -> None:
    cid = await _config(any_sessions)
    async with any_sessions() as s, s.begin():
        await executions.insert_many(
            s, [_rec(cid, -5), _rec(cid, 0), _rec(cid, 1, ok=False), _rec(cid, 2, ok=False)]
        )
    async with any_sessions() as s:
        assert await executions.outcome_counts(s, since=T0) == (3, 2)
        assert await executions.outcome_counts(s, since=T0 + timedelta(hours=1)) == (0, 0)
