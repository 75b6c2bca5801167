"""taskplane's side of each benchmark: the pieces under measurement are imported here only,
so the stock baselines run even while a piece is missing."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bench import procs
from bench.env import BenchEnv, bench_env
from bench.streams import read_all

CONCURRENCY = 64  # calls in flight when the service has no bulk path


@dataclass
class BenchConfig:
    """What the service layer reads of a config (core.ConfigLike), without a database row."""

    id: int
    name: str
    task_type: str = "echo"
    scheduler_type: str = "interval"
    schedule_config: dict[str, Any] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)
    max_retries: int = 0
    timeout_seconds: int | None = None
    priority: int = 0
    description: str | None = None


def interval_configs(n: int, seconds: int, *, first_id: int = 1) -> list[BenchConfig]:
    return [
        BenchConfig(
            id=first_id + i,
            name=f"bench-{first_id + i}",
            schedule_config={"seconds": seconds, "run_immediately": False},
            parameters={"message": f"bench-{first_id + i}"},
        )
        for i in range(n)
    ]


def service(env: BenchEnv, redis: Any) -> Any:
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


async def _each(items: Sequence[Any], fn: Any, concurrency: int = CONCURRENCY) -> None:
    sem = asyncio.Semaphore(concurrency)

    async def one(item: Any) -> None:
        async with sem:
            await fn(item)

    await asyncio.gather(*(one(i) for i in items))


async def create_state(svc: Any, configs: Sequence[Any]) -> None:
    """The config-creation hook (state: inactive + `created`), bulk if the service has it."""
    bulk = getattr(svc, "on_created_many", None)
    if bulk is not None:
        for i in range(0, len(configs), 5000):
            await bulk(configs[i : i + 5000])
    else:
        await _each(configs, svc.on_created)


async def start_all(svc: Any, configs: Sequence[Any], cap_seconds: float) -> tuple[int, str]:
    """Start configs through the service layer until done or ``cap_seconds``; returns how
    many were started and how."""
    bulk = getattr(svc, "start_many", None)
    started = time.monotonic()
    done = 0
    if bulk is not None:
        for i in range(0, len(configs), 5000):
            await bulk(configs[i : i + 5000])
            done = min(len(configs), i + 5000)
            if time.monotonic() - started > cap_seconds:
                break
        return done, "SchedulerService.start_many, 5,000 per call"
    sem = asyncio.Semaphore(CONCURRENCY)
    stop = False

    async def one(config: Any) -> None:
        nonlocal done, stop
        async with sem:
            if stop:
                return
            await svc.start(config)
            done += 1
            if time.monotonic() - started > cap_seconds:
                stop = True

    await asyncio.gather(*(one(c) for c in configs))
    return done, f"SchedulerService.start, {CONCURRENCY} calls in flight"


async def load_directly(svc: Any, redis: Any, env: BenchEnv, configs: Sequence[Any]) -> None:
    """Bench-side bulk loader for what the service did not register within its cap: the same
    keys core writes (data, interval list, due score), pipelined, no state. Only used so the
    scheduler still runs at full size; never counted as registration time."""
    from taskplane.scheduling import specs

    for i in range(0, len(configs), 2000):
        async with redis.pipeline(transaction=False) as pipe:
            for c in configs[i : i + 2000]:
                spec = specs.parse(c.scheduler_type, c.schedule_config)
                task = svc.core.build(c, spec)
                pipe.set(env.keys.source_data(task.schedule_id), task.model_dump_json())
                pipe.rpush(f"{env.keys.schedule_source_prefix}:interval", task.schedule_id)
                pipe.zadd(env.keys.due, {str(c.id): int(time.time() * 1000) + 3_600_000})
            await pipe.execute()


HOLD = "bench-holds-the-lease"


async def wait_follower(redis: Any, env: BenchEnv, proc: procs.Proc, within: float = 60) -> None:
    """Until the scheduler process is up (its heartbeat is written), not leading."""
    deadline = time.monotonic() + within
    while not await redis.hlen(env.keys.scheduler_instances):
        if not proc.alive():
            raise RuntimeError(f"scheduler exited:\n{proc.tail()}")
        if time.monotonic() > deadline:
            raise TimeoutError("the scheduler wrote no heartbeat")
        await asyncio.sleep(0.05)


async def wait_leader(redis: Any, env: BenchEnv, proc: procs.Proc, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while await redis.get(env.keys.scheduler_leader) in (None, HOLD):
        if not proc.alive():
            raise RuntimeError(f"scheduler exited:\n{proc.tail()}")
        if time.monotonic() > deadline:
            raise TimeoutError("the scheduler took no lease")
        await asyncio.sleep(0.05)


def scheduler_proc(env: BenchEnv, name: str) -> procs.Proc:
    return procs.Proc(name, procs.python("-m", "taskplane.scheduling"), env.process_env())


# --------------------------------------------------------------------------- B1


async def b1(n: int, *, fires: int, interval: int) -> Any:
    from bench.b1_scheduler import (
        REGISTER_CAP_SECONDS,
        Outcome,
        count_errors,
        per_minute,
        redis_pid,
    )
    from taskplane.resources import make_redis

    out = Outcome("taskplane", n)
    async with bench_env(f"b1-tp-{n}") as env:
        redis = make_redis(env.settings())
        try:
            svc = service(env, redis)
            configs = interval_configs(n, interval)
            # The scheduler starts first (its start-up is not in the window) but the bench
            # holds the leader lease, so it fires nothing while the schedules are registered
            # and their first dues rewritten; then the bench lets go and it takes over.
            await redis.set(env.keys.scheduler_leader, HOLD, px=1_800_000)
            proc = scheduler_proc(env, f"b1-tp-{n}-scheduler").start()
            try:
                await wait_follower(redis, env, proc, within=120)
                started = time.monotonic()
                done, how = await start_all(svc, configs, REGISTER_CAP_SECONDS)
                out.register_seconds = time.monotonic() - started
                out.registered = done
                out.note = f"registered with {how}"
                if done < n:
                    out.note += (
                        f"; {done:,} registered through the service in "
                        f"{out.register_seconds:.0f} s "
                        f"(cap), the other {n - done:,} loaded by the bench's bulk loader (core's "
                        "keys, pipelined) so the scheduler still runs at full size"
                    )
                    started_ids = set(await redis.zrange(env.keys.due, 0, -1))
                    await load_directly(
                        svc, redis, env, [c for c in configs if str(c.id) not in started_ids]
                    )
                # spread the first due times evenly over one interval, from t0 on
                t0_ms = int((time.time() + 5) * 1000)
                step = interval * 1000 / n
                async with redis.pipeline(transaction=False) as pipe:
                    for i, c in enumerate(configs):
                        pipe.zadd(env.keys.due, {str(c.id): t0_ms + int(i * step)}, xx=True)
                        if i % 10_000 == 9_999:
                            await pipe.execute()
                    await pipe.execute()
                await redis.delete(env.keys.scheduler_leader)
                await wait_leader(redis, env, proc, within=30)
                if time.time() * 1000 > t0_ms:
                    out.note += "; the scheduler took the lease after the window opened"
                window = fires * interval
                await asyncio.sleep(max(0.0, t0_ms / 1000 - time.time()))
                cpu0 = proc.cpu_seconds()
                server = await redis_pid(redis)
                redis0 = procs.cpu_of(server)
                await asyncio.sleep(max(0.0, t0_ms / 1000 + window - time.time()))
                out.cpu_per_minute = (proc.cpu_seconds() - cpu0) * 60 / window
                out.redis_cpu_per_minute = per_minute(redis0, procs.cpu_of(server), window)
                await asyncio.sleep(max(0.0, t0_ms / 1000 + window + interval - time.time()))
            finally:
                proc.stop()
            out.peak_rss = proc.peak_rss
            out.errors_in_log = count_errors(proc.tail(1_000_000))
            end_ms = t0_ms + window * 1000
            seen: Counter[tuple[int, int]] = Counter()
            raw = env.redis(decode=False)
            try:
                async for s in read_all(raw, env.keys.broker_stream("default")):
                    due = s.labels.get("due_at")
                    if s.labels.get("trigger") != "scheduled" or due is None:
                        continue
                    due_ms = round(datetime.fromisoformat(due).timestamp() * 1000)
                    if t0_ms <= due_ms < end_ms:
                        seen[(int(s.labels["config_id"]), due_ms)] += 1
                        if seen[(int(s.labels["config_id"]), due_ms)] == 1:
                            out.lags.append((s.sent_ms - due_ms) / 1000)
            finally:
                await raw.aclose()
            out.expected = n * fires
            out.sent = len(seen)
            out.duplicated = sum(c - 1 for c in seen.values())
            out.missed = out.expected - out.sent
        finally:
            await redis.aclose()
    return out


# --------------------------------------------------------------------------- B3


async def insert_configs(env: BenchEnv, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Bulk-insert config rows (not timed anywhere); returns their ids in order."""
    from sqlalchemy import insert, select

    from taskplane.db.models import TaskConfig
    from taskplane.db.session import make_engine, make_session_factory

    engine = make_engine(env.settings())
    try:
        sessions = make_session_factory(engine)
        async with sessions() as session, session.begin():
            for i in range(0, len(rows), 2000):
                await session.execute(insert(TaskConfig), list(rows[i : i + 2000]))
        async with sessions() as session:
            return list(await session.scalars(select(TaskConfig.id).order_by(TaskConfig.id)))
    finally:
        await engine.dispose()


async def b3(workers: int, tasks: int) -> Any:
    import asyncpg

    from bench.b3_throughput import DRAIN_CAP_SECONDS, Outcome, wait_readers
    from taskplane.resources import make_redis

    out = Outcome("taskplane", workers, tasks)
    async with bench_env(f"b3-tp-{workers}", database=True) as env:
        ids = await insert_configs(
            env,
            [
                {
                    "name": f"b3-{i}",
                    "task_type": "echo",
                    "scheduler_type": "manual",
                    "schedule_config": {},
                    "parameters": {"message": f"b3-{i}"},
                }
                for i in range(tasks)
            ],
        )
        configs = [
            BenchConfig(
                id=cid, name=f"b3-{i}", scheduler_type="manual", parameters={"message": f"b3-{i}"}
            )
            for i, cid in enumerate(ids)
        ]
        redis = make_redis(env.settings())
        pg = await asyncpg.connect(env.database_url.replace("+asyncpg", ""))
        worker_procs = [
            procs.Proc(
                f"b3-tp-{workers}-worker{k}",
                # BENCH_WORKER_ARGS (e.g. "--concurrency 50") tries other worker settings
                procs.python(
                    "-m", "taskplane.worker", *os.environ.get("BENCH_WORKER_ARGS", "").split()
                ),
                env.process_env(),
            ).start()
            for k in range(workers)
        ]
        try:
            svc = service(env, redis)
            await wait_readers(redis, workers, worker_procs[0])
            cpu0 = sum(p.cpu_seconds() for p in worker_procs)
            started = time.monotonic()
            for i in range(0, tasks, 1000):
                await svc.batch_run(configs[i : i + 1000])
            while True:
                out.done = int(await pg.fetchval("SELECT count(*) FROM task_execution"))
                if out.done >= tasks:
                    break
                if time.monotonic() - started > DRAIN_CAP_SECONDS:
                    out.note = f"{out.done:,} recorded within the {DRAIN_CAP_SECONDS} s cap"
                    break
                dead = [p for p in worker_procs if not p.alive()]
                if dead:
                    raise RuntimeError(f"worker exited:\n{dead[0].tail()}")
                await asyncio.sleep(0.1)
            out.seconds = time.monotonic() - started
            out.cpu_seconds = sum(p.cpu_seconds() for p in worker_procs) - cpu0
            failed = int(
                await pg.fetchval("SELECT count(*) FROM task_execution WHERE NOT is_success")
            )
            if failed:
                out.note = (out.note + "; " if out.note else "") + f"{failed:,} recorded as failed"
        finally:
            for p in worker_procs:
                p.stop()
            await pg.close()
            await redis.aclose()
    return out


# --------------------------------------------------------------------------- B2

B2_LANES = 5
B2_GAP_SECONDS = 1.5  # between two changes of one config: longer than its 1 s interval


@dataclass
class Change:
    config_id: int
    action: str
    returned_at: float
    marker: str | None = None  # reload: the parameters' new message
    ok: bool = True


async def b2(changes: int, registered: int) -> Any:
    import asyncpg
    import httpx

    from bench.b2_changes import Outcome
    from bench.b4_api import _free_port, _wait_http
    from bench.env import ADMIN_TOKEN
    from taskplane.resources import make_redis

    out = Outcome("taskplane")
    n_test = max(1, changes // 4)
    async with bench_env("b2-tp", database=True) as env:
        rows = [
            {
                "name": f"b2-bg-{i}",
                "task_type": "echo",
                "scheduler_type": "interval",
                "schedule_config": {"seconds": 3600, "run_immediately": False},
                "parameters": {"message": "background"},
            }
            for i in range(registered)
        ] + [
            {
                "name": f"b2-test-{i}",
                "task_type": "echo",
                "scheduler_type": "interval",
                "schedule_config": {"seconds": 1, "run_immediately": False},
                "parameters": {"message": "v0"},
            }
            for i in range(n_test)
        ]
        ids = await insert_configs(env, rows)
        bg = [
            BenchConfig(
                id=cid,
                name=r["name"],
                schedule_config=r["schedule_config"],
                parameters=r["parameters"],
            )
            for cid, r in zip(ids[:registered], rows[:registered], strict=True)
        ]
        test_ids = ids[registered:]
        redis = make_redis(env.settings())
        pg = await asyncpg.create_pool(
            env.database_url.replace("+asyncpg", ""), min_size=1, max_size=B2_LANES
        )
        svc = service(env, redis)
        await create_state(svc, bg)
        await create_state(svc, [BenchConfig(id=cid, name=f"t{cid}") for cid in test_ids])
        await start_all(svc, bg, cap_seconds=900)
        port = _free_port()
        scheduler = scheduler_proc(env, "b2-tp-scheduler").start()
        api = procs.Proc(
            "b2-tp-api",
            procs.python("-m", "taskplane.cli", "api", "--port", str(port)),
            env.process_env(),
        ).start()
        log: list[Change] = []
        try:
            await wait_leader(redis, env, scheduler, within=120)
            base = f"http://127.0.0.1:{port}/api/v1"
            await _wait_http(f"{base}/system/health", api)
            headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
            async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:

                async def act(cid: int, action: str, marker: str | None = None) -> None:
                    r = await client.post(f"/schedules/{cid}/{action}", json={})
                    log.append(Change(cid, action, time.time(), marker, r.status_code == 200))

                async def lane(my_ids: list[int]) -> None:
                    for cid in my_ids:
                        await act(cid, "start")
                        await asyncio.sleep(B2_GAP_SECONDS)
                        await act(cid, "pause")
                        await asyncio.sleep(B2_GAP_SECONDS)
                        await act(cid, "resume")
                        await asyncio.sleep(B2_GAP_SECONDS)
                        marker = f"v1-{cid}"
                        await pg.execute(
                            "UPDATE task_config SET parameters = $1::jsonb WHERE id = $2",
                            json.dumps({"message": marker}),
                            cid,
                        )
                        await act(cid, "reload", marker)
                        await asyncio.sleep(B2_GAP_SECONDS)
                        await client.post(f"/schedules/{cid}/stop", json={})

                await asyncio.gather(*(lane(test_ids[k::B2_LANES]) for k in range(B2_LANES)))
        finally:
            api.stop()
            scheduler.stop()
            await pg.close()
            await redis.aclose()
        sends: dict[int, list[tuple[float, float | None, str]]] = {}
        wanted = set(test_ids)
        raw = env.redis(decode=False)
        try:
            async for s in read_all(raw, env.keys.broker_stream("default")):
                cid = int(s.labels.get("config_id", 0))
                if cid in wanted:
                    due = s.labels.get("due_at")
                    due_s = datetime.fromisoformat(due).timestamp() if due else None
                    sends.setdefault(cid, []).append(
                        (s.sent_ms / 1000, due_s, str(s.kwargs.get("message")))
                    )
        finally:
            await raw.aclose()
        failed = [c for c in log if not c.ok]
        if failed:
            out.note = f"{len(failed)} of {len(log)} calls did not return 200"
        by_config: dict[int, list[Change]] = {}
        for c in sorted(log, key=lambda c: c.returned_at):
            by_config.setdefault(c.config_id, []).append(c)
        for cid, seq in by_config.items():
            mine = sorted(sends.get(cid, []))
            for k, c in enumerate(seq):
                if not c.ok:
                    continue
                until = seq[k + 1].returned_at if k + 1 < len(seq) else float("inf")
                after = [m for m in mine if c.returned_at < m[0] <= until + 5]
                if c.action == "pause":
                    late = [m[0] for m in after if m[0] <= until]
                    out.latencies["pause"].append(max(late) - c.returned_at if late else 0.0)
                    continue
                hits = [m for m in after if c.marker is None or m[2] == c.marker]
                if not hits:
                    out.not_honoured += 1
                    continue
                sent, due, _ = hits[0]
                could = max(c.returned_at, due or c.returned_at)
                out.latencies[c.action].append(max(0.0, sent - could))
    return out
