"""The taskplane stack a benchmark stands up before it measures: configs (objects without
rows, and rows), their schedule state through the service layer, the scheduler and API
processes, and waits until those are ready. Shared by the taskplane sides of B1-B4; each
benchmark's module holds its own two sides (taskplane and stock taskiq), and this module
imports none of them. taskplane's service layer, models and database code are imported
inside the functions that use them, so importing the bench does not load them."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bench import procs
from bench.env import BenchEnv
from taskplane import embedded_redis
from taskplane.actors import Actor

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from taskplane.db.configs import ConfigRow
    from taskplane.scheduling.service import SchedulerService

CONCURRENCY = 64  # calls in flight when the service has no bulk path
BULK = 5000  # configs per call of a bulk path
HOLD = "bench-holds-the-lease"  # the leader lease's value while the bench holds it
_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)

BENCH = Actor("bench", is_audited=False)
"""The benchmarks drive the services directly: recorded as "bench", not audited (no API or
CLI call made the change)."""


def bench_config(id: int, name: str, **fields: Any) -> ConfigRow:
    """A config as the service layer reads it, without a database row (or for one whose id
    is known): an ``echo`` interval config unless ``fields`` say otherwise."""
    from taskplane.db.configs import ConfigRow
    from taskplane.enums import SchedulerType

    values: dict[str, Any] = {
        "description": None,
        "task_type": "echo",
        "scheduler_type": SchedulerType.INTERVAL,
        "schedule_config": {},
        "parameters": {},
        "max_retries": 0,
        "timeout_seconds": None,
        "priority": 0,
        "created_at": _EPOCH,
        "updated_at": _EPOCH,
        **fields,
    }
    values["scheduler_type"] = SchedulerType(values["scheduler_type"])
    return ConfigRow(id=id, name=name, **values)


def interval_configs(n: int, seconds: int, *, first_id: int = 1) -> list[ConfigRow]:
    return [
        bench_config(
            id=first_id + i,
            name=f"bench-{first_id + i}",
            schedule_config={"seconds": seconds, "run_immediately": False},
            parameters={"message": f"bench-{first_id + i}"},
        )
        for i in range(n)
    ]


def config_rows(first: int, count: int) -> list[dict[str, Any]]:
    """Rows of ``echo`` interval configs (daily, not started) for ``insert_configs``."""
    return [
        {
            "name": f"bench-config-{i:06d}",
            "description": f"benchmark config {i}",
            "task_type": "echo",
            "scheduler_type": "interval",
            "schedule_config": {"seconds": 86_400, "run_immediately": False},
            "parameters": {"message": f"config {i}"},
            "max_retries": 0,
            "priority": 0,
        }
        for i in range(first, first + count)
    ]


async def insert_configs(env: BenchEnv, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Bulk-insert config rows (not timed anywhere); returns their ids in order."""
    from sqlalchemy import insert, select

    from taskplane.db.models import TaskConfig
    from taskplane.db.session import make_engine, make_session_factory

    engine = make_engine(env.settings())
    try:
        sessions = make_session_factory(engine)
        async with sessions() as session, session.begin():
            # one multi-row INSERT per chunk: the config counter's trigger runs per statement
            # (an executemany would be a statement, and a counter update, per row)
            for i in range(0, len(rows), 2000):
                await session.execute(insert(TaskConfig).values(list(rows[i : i + 2000])))
        async with sessions() as session:
            return list(await session.scalars(select(TaskConfig.id).order_by(TaskConfig.id)))
    finally:
        await engine.dispose()


def service(env: BenchEnv, redis: Redis) -> SchedulerService:
    from taskplane.scheduling.service import SchedulerService
    from taskplane.tasks.registry import load_registry

    settings = env.settings()
    return SchedulerService(
        redis,
        env.keys,
        load_registry(settings),
        history_max=settings.history_max,
        history_ttl_seconds=settings.history_ttl_seconds,
    )


async def _each(items: Sequence[ConfigRow], fn: Callable[[ConfigRow], Awaitable[object]]) -> None:
    sem = asyncio.Semaphore(CONCURRENCY)

    async def one(item: ConfigRow) -> None:
        async with sem:
            await fn(item)

    await asyncio.gather(*(one(i) for i in items))


async def create_state(svc: SchedulerService, configs: Sequence[ConfigRow]) -> None:
    """The config-creation hook (state: inactive + `created`), bulk if the service has it."""
    bulk = getattr(svc, "on_created_many", None)
    if bulk is not None:
        for i in range(0, len(configs), BULK):
            await bulk(configs[i : i + BULK], actor=BENCH)
    else:
        await _each(configs, functools.partial(svc.on_created, actor=BENCH))


async def start_all(
    svc: SchedulerService, configs: Sequence[ConfigRow], cap_seconds: float
) -> tuple[int, str]:
    """Start configs through the service layer until done or ``cap_seconds``; returns how
    many were started and how."""
    bulk = getattr(svc, "start_many", None)
    started = time.monotonic()
    done = 0
    if bulk is not None:
        for i in range(0, len(configs), BULK):
            report = await bulk(configs[i : i + BULK], actor=BENCH)
            if report.errors:
                raise RuntimeError(f"start_many refused some: {report.errors[:3]}")
            done += len(report.results)
            if time.monotonic() - started > cap_seconds:
                break
        return done, f"SchedulerService.start_many, {BULK:,} per call"
    sem = asyncio.Semaphore(CONCURRENCY)
    stop = False

    async def one(config: ConfigRow) -> None:
        nonlocal done, stop
        async with sem:
            if stop:
                return
            await svc.start(config, actor=BENCH)
            done += 1
            if time.monotonic() - started > cap_seconds:
                stop = True

    await asyncio.gather(*(one(c) for c in configs))
    return done, f"SchedulerService.start, {CONCURRENCY} calls in flight"


async def load_directly(
    svc: SchedulerService, redis: Redis, env: BenchEnv, configs: Sequence[ConfigRow]
) -> None:
    """Bench-side bulk loader for what the service did not register within its cap: core's
    own writes (``add_many``: registration and due score, first due in an hour), no state.
    Only used so the scheduler still runs at full size; never counted as registration
    time."""
    from datetime import UTC, datetime, timedelta

    from taskplane.scheduling import specs

    later = datetime.now(UTC) + timedelta(hours=1)
    for i in range(0, len(configs), 2000):
        items = [
            (c, specs.parse(c.scheduler_type, c.schedule_config), later, False)
            for c in configs[i : i + 2000]
        ]
        await svc.core.add_many(items)


def scheduler_proc(env: BenchEnv, name: str) -> procs.Proc:
    return procs.Proc(name, procs.python("-m", "taskplane.scheduling"), env.process_env())


def api_proc(env: BenchEnv, name: str, port: int, **settings: Any) -> procs.Proc:
    """``taskplane api`` on ``port``; ``settings`` override the env's (e.g. log_level)."""
    return procs.Proc(
        name,
        procs.python("-m", "taskplane.cli", "api", "--port", str(port)),
        env.process_env(**settings),
    )


async def wait_follower(redis: Redis, env: BenchEnv, proc: procs.Proc, within: float = 60) -> None:
    """Until the scheduler process is up (its heartbeat is written), not leading."""
    deadline = time.monotonic() + within
    while not await redis.hlen(env.keys.scheduler_instances):
        if not proc.alive():
            raise RuntimeError(f"scheduler exited:\n{proc.tail()}")
        if time.monotonic() > deadline:
            raise TimeoutError("the scheduler wrote no heartbeat")
        await asyncio.sleep(0.05)


async def wait_leader(redis: Redis, env: BenchEnv, proc: procs.Proc, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while await redis.get(env.keys.scheduler_leader) in (None, HOLD):
        if not proc.alive():
            raise RuntimeError(f"scheduler exited:\n{proc.tail()}")
        if time.monotonic() > deadline:
            raise TimeoutError("the scheduler took no lease")
        await asyncio.sleep(0.05)


def free_port() -> int:
    """embedded_redis's: its own class of ports when tests/bench runs under pytest-xdist."""
    return embedded_redis.free_port()


async def wait_http(url: str, proc: procs.Proc, within: float = 90) -> None:
    """Until ``url`` answers at all (any status): the API process is serving."""
    import httpx

    deadline = time.monotonic() + within
    async with httpx.AsyncClient(timeout=2) as client:
        while True:
            if not proc.alive():
                raise RuntimeError(f"api exited:\n{proc.tail()}")
            try:
                await client.get(url)
                return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"api not answering within {within}s:\n{proc.tail()}")
            await asyncio.sleep(0.2)
