"""GET /executions/histogram: counts per bucket and outcome from PostgreSQL, the same size
however many executions are stored, and from an index."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from bench.b8_dashboard import SPAN, seed_executions
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from taskplane.db import configs, executions
from taskplane.enums import SchedulerType

Sessions = async_sessionmaker[AsyncSession]


async def _config(sessions: Sessions) -> int:
    async with sessions() as s, s.begin():
        c = await configs.create(
            s,
            name="busy",
            task_type="echo",
            scheduler_type=SchedulerType.MANUAL,
            schedule_config={},
            parameters={},
        )
        return c.id


async def test_bad_ranges_are_422_naming_the_field(client: httpx.AsyncClient) -> None:
    now = datetime.now(UTC)
    cases = [
        ({"since": now.isoformat(), "until": (now - timedelta(hours=1)).isoformat()}, "since"),
        ({"since": (now - timedelta(days=30)).isoformat(), "bucket": "60"}, "bucket"),
        ({"bucket": "59"}, "bucket"),
        ({"bucket": "86401"}, "bucket"),
    ]
    for params, field in cases:
        r = await client.get("/executions/histogram", params=params)
        assert r.status_code == 422, (params, r.text)
        assert r.json()["detail"][0]["loc"] == ["query", field]


async def test_a_viewer_reads_the_last_24_hours_in_hourly_buckets_by_default(
    viewer: httpx.AsyncClient, sessions: Sessions
) -> None:
    r = await viewer.get("/executions/histogram")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["bucket_seconds"] == 3600 and len(body["buckets"]) == 24
    since = datetime.fromisoformat(body["since"])
    until = datetime.fromisoformat(body["until"])
    assert until - since == timedelta(hours=24)
    assert body["total"] == 0 and all(b["ok"] == b["failed"] == 0 for b in body["buckets"])


async def test_the_answer_stays_the_same_size_from_100_to_100000_executions(
    client: httpx.AsyncClient, sessions: Sessions, engine: AsyncEngine
) -> None:
    cid = await _config(sessions)
    until = datetime.now(UTC).replace(microsecond=0)
    params = {"since": (until - timedelta(hours=24)).isoformat(), "until": until.isoformat()}

    await seed_executions(engine, cid, 100, until=until, span=timedelta(hours=24))
    small = await client.get("/executions/histogram", params=params)
    await seed_executions(engine, cid, 99_900, until=until, span=timedelta(hours=24), first=100)
    large = await client.get("/executions/histogram", params=params)

    assert small.json()["total"] == 100 and large.json()["total"] == 100_000
    assert sum(b["ok"] + b["failed"] for b in large.json()["buckets"]) == 100_000
    assert large.json()["failed"] == 10_000  # every tenth row failed
    # the same 24 buckets: only the digits of the counts grow
    assert len(small.json()["buckets"]) == len(large.json()["buckets"]) == 24
    assert len(large.content) - len(small.content) <= 24 * 2 * 4 + 2 * 4
    assert len(large.content) < 4096

    # a narrow range is read from the (started_at, is_success) index
    assert "ix_task_execution_started_outcome" in await _plan(sessions, engine, until)


async def _plan(sessions: Sessions, engine: AsyncEngine, until: datetime) -> str:
    """The query plan of the histogram's statement, as the database explains it."""
    async with sessions() as s:
        stmt = executions.histogram_statement(
            s, since=until - timedelta(hours=1), until=until, bucket_seconds=60
        )
        compiled = stmt.compile(engine, compile_kwargs={"literal_binds": True})
        pg = engine.dialect.name == "postgresql"
        await s.execute(text("ANALYZE task_execution" if pg else "ANALYZE"))
        rows = await s.execute(text(("EXPLAIN " if pg else "EXPLAIN QUERY PLAN ") + str(compiled)))
        return "\n".join(str(row[-1] if not pg else row[0]) for row in rows)


async def test_the_dashboard_tiles_and_the_histogram_count_the_same_executions(
    client: httpx.AsyncClient, sessions: Sessions, engine: AsyncEngine
) -> None:
    cid = await _config(sessions)
    until = datetime.now(UTC)
    await seed_executions(engine, cid, 250, until=until, span=timedelta(hours=23))
    await seed_executions(engine, cid, 40, until=until - timedelta(hours=25), span=SPAN, first=250)
    day = (await client.get("/system/dashboard")).json()["executions_24h"]
    histogram = (await client.get("/executions/histogram")).json()
    assert day == {"total": 250, "failed": 25, "success_rate": 0.9}
    assert (histogram["total"], histogram["failed"]) == (250, 25)
