"""B8 - the dashboard's overview: bytes per refresh and refreshes per second with 1,000 and
1,000,000 executions stored.

``python -m bench b8 [--n 1000 --n 1000000] [--duration 10]`` runs it, stores its result
and regenerates docs/benchmarks.md, like every benchmark of the suite."""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import httpx
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench import stack
from bench.env import ADMIN_TOKEN, BenchEnv, bench_env
from bench.results import Result
from taskplane.db.models import TaskExecution

TITLE = "the dashboard's overview: bytes and refreshes per second by executions stored"
SIZES = [1_000, 1_000_000]
DURATION = 10.0  # seconds of refreshes per size and way
SEED_CHUNK = 2000  # rows per multi-row INSERT on SQLite (bound-parameter limits)
PG_SEED_CHUNK = 100_000
SPAN = timedelta(hours=24)  # seeded executions start within the last 24 hours: all in the chart
# what one overview refresh asks for (overview.js), all four at once
REFRESH = [
    "/system/dashboard",
    "/system/status",
    "/system/health",
    "/executions/histogram?bucket=3600",
]
OLD_PAGE = 500  # the former overview: every execution of 24 h, 500 a page, up to 5,000
OLD_MAX = 5000

DESCRIPTION = f"""
What one refresh of the overview costs as executions pile up. For each N (grown in place in
one PostgreSQL database: N executions of one config, all started in the last 24 hours, one in
ten failed, seeded with one `INSERT ... SELECT generate_series`, then `VACUUM ANALYZE`), one
`taskplane api` process serves the four requests a refresh makes at once
({", ".join(f"`{r}`" for r in REFRESH)}), from one client on keep-alive connections, back to
back for {DURATION:.0f} s: refreshes per second, the p50 / p99 of a refresh, and its response
bytes. For contrast, the same for the former overview, which paged the 24 hours' execution
records (`/executions?since=&limit={OLD_PAGE}`, up to {OLD_MAX:,} of them) with the same
three other requests.
"""


@dataclass
class Share:
    n: int
    path: str
    p50_ms: float
    bytes: int


@dataclass
class Figures:
    n: int
    way: str  # "histogram" or "records (before)"
    refreshes: int
    per_second: float
    p50_ms: float
    p99_ms: float
    bytes_per_refresh: int


def _spread(i: int, span_ms: int) -> int:
    """Milliseconds before `until` of seeded row i: spread over the span, deterministic."""
    return (i * 86_399) % span_ms + 1


async def seed_executions(
    engine: AsyncEngine,
    config_id: int,
    count: int,
    *,
    until: datetime,
    span: timedelta,
    first: int = 0,
) -> None:
    """Insert `count` executions of one config started in ``(until - span, until)``, every
    tenth failed: one statement on PostgreSQL (generate_series), multi-row INSERTs on SQLite."""
    span_ms = int(span.total_seconds() * 1000)
    if engine.dialect.name == "postgresql":
        # 100,000 rows a statement: each well within the engine's command timeout
        for start in range(first, first + count, PG_SEED_CHUNK):
            async with engine.begin() as conn:
                await conn.execute(
                    text(
                        "INSERT INTO task_execution (config_id, task_id, task_type, trigger,"
                        " is_success, attempt, started_at, completed_at, duration_seconds,"
                        " error_message)"
                        " SELECT :cid, 'seed-' || i, 'echo', 'scheduled', i % 10 <> 0, 1, at,"
                        " at, 0.01, CASE WHEN i % 10 = 0 THEN 'seeded failure' END"
                        " FROM generate_series(CAST(:first AS bigint), :last) AS i,"
                        " LATERAL (SELECT CAST(:until AS timestamptz)"
                        "  - make_interval(secs => ((i * 86399) % :span_ms + 1) / 1000.0) AS at) t"
                    ),
                    {
                        "cid": config_id,
                        "first": start,
                        "last": min(start + PG_SEED_CHUNK, first + count) - 1,
                        "until": until,
                        "span_ms": span_ms,
                    },
                )
        return
    async with engine.begin() as conn:
        for start in range(first, first + count, SEED_CHUNK):
            rows = []
            for i in range(start, min(start + SEED_CHUNK, first + count)):
                at = until - timedelta(milliseconds=_spread(i, span_ms))
                rows.append(
                    {
                        "config_id": config_id,
                        "task_id": f"seed-{i}",
                        "task_type": "echo",
                        "trigger": "scheduled",
                        "is_success": i % 10 != 0,
                        "attempt": 1,
                        "started_at": at,
                        "completed_at": at,
                        "duration_seconds": 0.01,
                        "error_message": None if i % 10 else "seeded failure",
                    }
                )
            await conn.execute(insert(TaskExecution).values(rows))


async def _refresh(client: httpx.AsyncClient, paths: Sequence[str], paged: bool) -> int:
    """One overview refresh; the bytes of its responses."""
    answers = await asyncio.gather(*(client.get(p) for p in paths))
    size = sum(len(r.content) for r in answers)
    if paged:  # the former way: the records of 24 h, page after page
        since = quote((datetime.now(UTC) - SPAN).isoformat())
        for offset in range(0, OLD_MAX, OLD_PAGE):
            page = await client.get(f"/executions?since={since}&limit={OLD_PAGE}&offset={offset}")
            size += len(page.content)
            body = page.json()
            if offset + OLD_PAGE >= body["total"]:
                break
    return size


async def measure(base: str, n: int, way: str, duration: float) -> Figures:
    paged = way != "histogram"
    paths = REFRESH if not paged else REFRESH[:3]
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=120) as client:
        await _refresh(client, paths, paged)  # warm-up
        times: list[float] = []
        sizes: list[int] = []
        end = time.monotonic() + duration
        while time.monotonic() < end or len(times) < 3:
            t0 = time.perf_counter()
            sizes.append(await _refresh(client, paths, paged))
            times.append(time.perf_counter() - t0)
    ordered = sorted(times)
    return Figures(
        n=n,
        way=way,
        refreshes=len(times),
        per_second=len(times) / sum(times),
        p50_ms=statistics.median(ordered) * 1000,
        p99_ms=ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000,
        bytes_per_refresh=round(statistics.median(sizes)),
    )


async def shares(base: str, n: int, rounds: int = 5) -> list[Share]:
    """Where a refresh's time goes: each of its requests alone, `rounds` times."""
    out = []
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=120) as client:
        for path in REFRESH:
            times = []
            size = 0
            for _ in range(rounds):
                t0 = time.perf_counter()
                size = len((await client.get(path)).content)
                times.append(time.perf_counter() - t0)
            out.append(Share(n, path, statistics.median(times) * 1000, size))
    return out


async def _grow(env: BenchEnv, engine: AsyncEngine, config_id: int, have: int, n: int) -> None:
    import asyncpg

    until = datetime.now(UTC)
    await seed_executions(engine, config_id, n - have, until=until, span=SPAN, first=have)
    dsn = env.database_url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("VACUUM ANALYZE task_execution")
    finally:
        await conn.close()


async def measure_sizes(
    env: BenchEnv, sizes: Sequence[int], duration: float
) -> tuple[list[Figures], list[Share]]:
    from taskplane.db import configs
    from taskplane.db.session import make_engine, make_session_factory
    from taskplane.enums import SchedulerType

    engine = make_engine(env.settings())
    port = stack.free_port()
    api = stack.api_proc(env, "b7-api", port).start()
    out: list[Figures] = []
    parts: list[Share] = []
    try:
        await stack.wait_http(f"http://127.0.0.1:{port}/api/v1/system/health", api)
        async with make_session_factory(engine)() as s, s.begin():
            config = await configs.create(
                s,
                name="busy",
                task_type="echo",
                scheduler_type=SchedulerType.MANUAL,
                schedule_config={},
                parameters={"message": "x"},
            )
            config_id = config.id
        have = 0
        for n in sorted(sizes):
            print(f"  B8 seeding to {n:,} executions ...", flush=True)
            await _grow(env, engine, config_id, have, n)
            have = n
            base = f"http://127.0.0.1:{port}/api/v1"
            parts += await shares(base, n)
            for way in ("histogram", "records (before)"):
                print(f"  B8 {n:,} executions, {way} ...", flush=True)
                out.append(await measure(base, n, way, duration))
    finally:
        api.stop()
        await engine.dispose()
    return out, parts


async def run(result: Result, args: argparse.Namespace) -> None:
    sizes = getattr(args, "n", None) or SIZES
    duration = getattr(args, "duration", None) or DURATION
    async with bench_env("b8", database=True) as env:
        figures, parts = await measure_sizes(env, sizes, duration)
    t = result.table(
        "B8: one overview refresh (4 requests at once), one client, back to back",
        ["executions stored", "overview", "refreshes", "refreshes/s", "p50", "p99", "bytes"],
    )
    for f in figures:
        t.add(
            f"{f.n:,}",
            f.way,
            f.refreshes,
            f"{f.per_second:.1f}",
            f"{f.p50_ms:.1f} ms",
            f"{f.p99_ms:.1f} ms",
            f"{f.bytes_per_refresh:,}",
        )
    w = result.table(
        "B8: each request of a refresh alone (p50 of 5)",
        ["executions stored", "request", "p50", "bytes"],
    )
    for part in parts:
        w.add(f"{part.n:,}", part.path, f"{part.p50_ms:.1f} ms", f"{part.bytes:,}")
    now = [f for f in figures if f.way == "histogram"]
    if len(now) >= 2:
        small, large = now[0], now[-1]
        result.goal(
            f"bytes per refresh flat from {small.n:,} to {large.n:,} executions",
            large.bytes_per_refresh <= small.bytes_per_refresh * 1.05,
            f"{small.bytes_per_refresh:,} B -> {large.bytes_per_refresh:,} B",
        )
