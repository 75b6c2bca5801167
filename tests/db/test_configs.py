"""Config data access: one contract suite on the run's database and on SQLite."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taskplane.db import configs, executions
from taskplane.db.executions import ExecutionRecord
from taskplane.enums import SchedulerType, Trigger
from taskplane.errors import Conflict, NotFound

Sessions = async_sessionmaker[AsyncSession]


def _fields(name: str, **over: object) -> dict[str, object]:
    base: dict[str, object] = {
        "name": name,
        "description": None,
        "task_type": "echo",
        "scheduler_type": SchedulerType.INTERVAL,
        "schedule_config": {"seconds": 10},
        "parameters": {"message": "hi"},
    }
    return {**base, **over}


async def test_create_get_and_defaults(any_sessions: Sessions) -> None:
    async with any_sessions() as s, s.begin():
        created = await configs.create(s, **_fields("a"))
    async with any_sessions() as s:
        got = await configs.get(s, created.id)
        assert got.name == "a" and got.max_retries == 0 and got.priority == 0
        assert got.timeout_seconds is None
        assert got.schedule_config == {"seconds": 10} and got.parameters == {"message": "hi"}
        assert got.created_at.tzinfo is not None and got.updated_at.tzinfo is not None
        assert (await configs.get_by_name(s, "a")) is not None
        assert await configs.get_by_name(s, "nope") is None
        with pytest.raises(NotFound, match="config 999 not found"):
            await configs.get(s, 999)


async def test_duplicate_name_is_conflict_and_leaves_the_transaction_usable(
    any_sessions: Sessions,
) -> None:
    async with any_sessions() as s, s.begin():
        await configs.create(s, **_fields("dup"))
    async with any_sessions() as s, s.begin():
        with pytest.raises(Conflict, match="dup"):
            await configs.create(s, **_fields("dup"))
        await configs.create(s, **_fields("other"))  # the outer transaction still works
    async with any_sessions() as s:
        assert await configs.count(s) == 2


async def test_list_filters_and_pagination(any_sessions: Sessions) -> None:
    async with any_sessions() as s, s.begin():
        for i in range(7):
            await configs.create(
                s,
                **_fields(
                    f"job-{i}",
                    description="Nightly 100% report" if i == 3 else None,
                    task_type="echo" if i % 2 else "sleep",
                    scheduler_type=SchedulerType.CRON if i < 2 else SchedulerType.INTERVAL,
                ),
            )
    async with any_sessions() as s:
        page = await configs.list_page(s, limit=3, offset=0)
        assert page.total == 7 and [c.name for c in page.items] == ["job-6", "job-5", "job-4"]
        last = await configs.list_page(s, limit=3, offset=6)
        assert last.total == 7 and [c.name for c in last.items] == ["job-0"]
        past = await configs.list_page(s, limit=3, offset=50)
        assert past.total == 7 and past.items == []
        assert (await configs.list_page(s, task_type="echo")).total == 3
        assert (await configs.list_page(s, scheduler_type=SchedulerType.CRON)).total == 2
        by_q = await configs.list_page(s, q="NIGHTLY")
        assert [c.name for c in by_q.items] == ["job-3"]
        assert (await configs.list_page(s, q="100%")).total == 1  # % is literal, not a wildcard
        assert (await configs.list_page(s, q="job_")).total == 0  # _ is literal too
        assert (await configs.list_page(s, q="job-")).total == 7
        ids = [c.id for c in (await configs.list_page(s)).items][:2]
        assert (await configs.list_page(s, ids=ids)).total == 2
        assert (await configs.list_page(s, ids=[])).total == 0
        combined = await configs.list_page(s, task_type="sleep", scheduler_type=SchedulerType.CRON)
        assert [c.name for c in combined.items] == ["job-0"]


async def test_update_changes_fields_and_updated_at(any_sessions: Sessions) -> None:
    async with any_sessions() as s, s.begin():
        c = await configs.create(s, **_fields("u"))
        await configs.create(s, **_fields("taken"))
    before = c.updated_at
    async with any_sessions() as s, s.begin():
        await configs.update(s, c.id, {"priority": 5, "parameters": {"message": "x"}})
    async with any_sessions() as s:
        row = await configs.get(s, c.id)
        assert row.priority == 5 and row.parameters == {"message": "x"}
        assert row.updated_at > before
    async with any_sessions() as s, s.begin():
        with pytest.raises(Conflict):
            await configs.update(s, c.id, {"name": "taken"})
        with pytest.raises(NotFound):
            await configs.update(s, 987_654, {"priority": 1})


async def test_delete_cascades_to_executions(any_sessions: Sessions) -> None:
    now = datetime.now(UTC)
    async with any_sessions() as s, s.begin():
        c = await configs.create(s, **_fields("gone"))
        keep = await configs.create(s, **_fields("kept"))
        for cid, tid in ((c.id, "t1"), (keep.id, "t2")):
            await executions.insert_once(
                s,
                ExecutionRecord(cid, tid, "echo", Trigger.MANUAL, True, 1, now, now, 0.1),
            )
    async with any_sessions() as s, s.begin():
        await configs.delete(s, c.id)
    async with any_sessions() as s:
        assert (await executions.list_page(s)).total == 1
        with pytest.raises(NotFound):
            await configs.delete(s, c.id)


async def test_alerts_are_stored_updated_and_cleared(any_sessions: Sessions) -> None:
    """``task_config.alerts`` (migration 0005_hB_alerts), on PostgreSQL and on SQLite."""
    alerts = {"late_after_seconds": 120, "failures_in_row": None}
    async with any_sessions() as s, s.begin():
        plain = await configs.create(s, **_fields("no-alerts"))
        created = await configs.create(s, **_fields("alerting", alerts=alerts))
    assert plain.alerts is None and created.alerts == alerts
    async with any_sessions() as s, s.begin():
        changed = {"late_after_seconds": None, "failures_in_row": 4}
        await configs.update(s, created.id, {"alerts": changed})
    async with any_sessions() as s:
        assert (await configs.get(s, created.id)).alerts == changed
    async with any_sessions() as s, s.begin():
        await configs.update(s, created.id, {"alerts": None})
    async with any_sessions() as s:
        assert (await configs.get(s, created.id)).alerts is None
