from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taskplane.db import configs, executions
from taskplane.db.executions import ExecutionRecord
from taskplane.enums import SchedulerType, Trigger

Sessions = async_sessionmaker[AsyncSession]
NOW = datetime.now(UTC)


async def seed(sessions: Sessions) -> int:
    """A config with 4 executions: two old (40 days), one failed, one batch."""
    async with sessions() as s, s.begin():
        config = await configs.create(
            s,
            name="seeded",
            task_type="echo",
            scheduler_type=SchedulerType.MANUAL,
            schedule_config={},
            parameters={"message": "hi"},
        )
        rows = []
        for i, (ago, ok, trigger) in enumerate(
            [
                (timedelta(days=40), True, Trigger.SCHEDULED),
                (timedelta(days=40, minutes=1), True, Trigger.SCHEDULED),
                (timedelta(minutes=5), False, Trigger.MANUAL),
                (timedelta(minutes=1), True, Trigger.BATCH),
            ]
        ):
            rows.append(
                ExecutionRecord(
                    config_id=config.id,
                    task_id=f"t{i}",
                    task_type="echo",
                    trigger=trigger,
                    is_success=ok,
                    attempt=1,
                    started_at=NOW - ago,
                    completed_at=NOW - ago + timedelta(seconds=2),
                    duration_seconds=2.0 + i,
                    error_message=None if ok else "boom",
                )
            )
        await executions.insert_many(s, rows)
        return config.id


async def test_lists_filter_and_page_newest_first(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    config_id = await seed(sessions)
    page = (await client.get("/executions", params={"limit": 2})).json()
    assert page["total"] == 4 and page["limit"] == 2 and page["offset"] == 0
    assert [e["task_id"] for e in page["items"]] == ["t3", "t2"]
    item = page["items"][0]
    for field in [
        "id",
        "config_id",
        "task_id",
        "task_type",
        "trigger",
        "is_success",
        "attempt",
        "started_at",
        "completed_at",
        "duration_seconds",
        "result",
        "error_message",
        "worker",
    ]:
        assert field in item
    failed = (await client.get("/executions", params={"is_success": "false"})).json()
    assert [e["task_id"] for e in failed["items"]] == ["t2"]
    batch = (await client.get("/executions", params={"trigger": "batch"})).json()
    assert [e["task_id"] for e in batch["items"]] == ["t3"]
    since = (NOW - timedelta(days=1)).isoformat()
    recent = (await client.get("/executions", params={"since": since})).json()
    assert recent["total"] == 2
    until = (await client.get("/executions", params={"until": since})).json()
    assert until["total"] == 2
    other = (await client.get("/executions", params={"config_id": config_id + 1})).json()
    assert other["total"] == 0 and other["items"] == []
    naive = (NOW - timedelta(days=1)).replace(tzinfo=None).isoformat()
    assert (await client.get("/executions", params={"since": naive})).json()["total"] == 2


async def test_recent_and_failed_default_to_20(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    await seed(sessions)
    recent = (await client.get("/executions/recent")).json()
    assert recent["limit"] == 20 and recent["total"] == 4
    assert recent["items"][0]["task_id"] == "t3"
    failed = (await client.get("/executions/failed")).json()
    assert failed["limit"] == 20 and [e["task_id"] for e in failed["items"]] == ["t2"]
    assert failed["items"][0]["error_message"] == "boom"


async def test_stats_are_null_when_empty_and_computed_otherwise(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    empty = (await client.get("/executions/stats")).json()
    assert empty == {
        "total": 0,
        "succeeded": 0,
        "failed": 0,
        "success_rate": None,
        "avg_duration_seconds": None,
        "p95_duration_seconds": None,
        "last_run_at": None,
    }
    config_id = await seed(sessions)
    stats = (await client.get("/executions/stats", params={"config_id": config_id})).json()
    assert stats["total"] == 4 and stats["succeeded"] == 3 and stats["failed"] == 1
    assert stats["success_rate"] == 0.75
    assert stats["p95_duration_seconds"] == 5.0
    assert stats["last_run_at"] is not None


async def test_detail_and_404(client: httpx.AsyncClient, sessions: Sessions) -> None:
    await seed(sessions)
    first = (await client.get("/executions/recent", params={"limit": 1})).json()["items"][0]
    detail = await client.get(f"/executions/{first['id']}")
    assert detail.status_code == 200 and detail.json()["task_id"] == "t3"
    assert (await client.get("/executions/987654")).status_code == 404
    assert (await client.get("/executions/99999999999999999999")).status_code == 422


async def test_cleanup_deletes_older_records_only(
    client: httpx.AsyncClient, viewer: httpx.AsyncClient, sessions: Sessions
) -> None:
    await seed(sessions)
    assert (await viewer.delete("/executions", params={"older_than_days": 30})).status_code == 403
    assert (await client.delete("/executions")).status_code == 422
    assert (await client.delete("/executions", params={"older_than_days": -1})).status_code == 422
    done = await client.delete("/executions", params={"older_than_days": 30})
    assert done.status_code == 200 and done.json() == {"deleted": 2}
    assert (await client.get("/executions")).json()["total"] == 2


async def test_paging_bounds_are_422(client: httpx.AsyncClient) -> None:
    for params in ({"limit": 0}, {"limit": 501}, {"offset": -1}, {"limit": "x"}):
        response = await client.get("/executions", params=params)
        assert response.status_code == 422, params
        assert response.json()["detail"][0]["loc"][0] == "query"
    ok = await client.get("/executions", params={"limit": 500, "offset": 10})
    assert ok.json() == {"items": [], "total": 0, "limit": 500, "offset": 10}


async def test_stats_since_and_out_of_range_times(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    await seed(sessions)
    since = (NOW - timedelta(days=1)).isoformat()
    stats = (await client.get("/executions/stats", params={"since": since})).json()
    assert stats["total"] == 2 and stats["failed"] == 1 and stats["success_rate"] == 0.5
    for bad in ("0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-23:00", "yesterday"):
        response = await client.get("/executions", params={"since": bad})
        assert response.status_code == 422, bad
        assert response.json()["detail"][0]["loc"][:2] == ["query", "since"]
