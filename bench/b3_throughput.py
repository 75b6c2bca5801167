"""B3 — execution throughput with recording."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from taskiq.message import TaskiqMessage

from bench import procs, stack, stats, stock_app
from bench.env import REDIS_URL, bench_env
from bench.results import Result
from taskplane import messages

TITLE = "execution throughput with recording"
TASKS = 50_000
WORKERS = [1, 2]
DRAIN_CAP_SECONDS = 600

DESCRIPTION = f"""
{TASKS:,} `echo` tasks, with 1 and then 2 worker processes, end to end: the clock starts when
the first message is sent and stops when the last execution is done.

- **taskplane**: {TASKS:,} `echo` configs (manual) are created first (not timed); the tasks are
  sent by `SchedulerService.batch_run` (the `POST /runs` path) in batches of 1,000 configs, to
  `python -m taskplane.worker` (its defaults) on PostgreSQL and Redis. Done = {TASKS:,} rows in
  `task_execution`, so the figure includes the recorder's PostgreSQL writes and Redis counters.
- **plain taskiq**: the stock CLI `taskiq worker bench.stock_app:make_broker --workers W`
  (RedisStreamBroker, JSON, defaults, `--log-level WARNING`) running an equivalent `echo`
  function with no recording and no result backend. The same {TASKS:,} messages are appended
  to its stream with pipelined XADDs. Done = the consumer group has no pending and no unread
  entry (every message acknowledged).
- The workers are started and ready (their consumers registered) before the clock starts.
  Overhead = 1 - taskplane rate / plain rate at the same worker count.
"""


@dataclass
class Outcome:
    system: str
    workers: int
    tasks: int
    seconds: float | None = None
    cpu_seconds: float | None = None
    done: int = 0
    note: str = ""

    @property
    def rate(self) -> float | None:
        return self.done / self.seconds if self.seconds else None


async def _group_state(redis: Redis, stream: str, group: str) -> dict[str, Any] | None:
    try:
        groups = await redis.xinfo_groups(stream)
    except Exception:
        return None
    for g in groups:
        name = g.get("name")
        if (name.decode() if isinstance(name, bytes) else name) == group:
            return g
    return None


async def readers(redis: Redis) -> int:
    """Connections to the bench's Redis DB now blocked in XREADGROUP: one per ready worker
    process (a consumer shows in XINFO CONSUMERS only once it has read something)."""
    db = int(REDIS_URL.rsplit("/", 1)[1])
    clients = await redis.client_list()
    return sum(1 for c in clients if int(c.get("db", -1)) == db and c.get("cmd") == "xreadgroup")


async def wait_readers(redis: Redis, n: int, proc: procs.Proc, within: float = 90) -> None:
    deadline = time.monotonic() + within
    while await readers(redis) < n:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited:\n{proc.tail()}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{proc.name}: {n} stream readers not ready within {within}s")
        await asyncio.sleep(0.1)


# --------------------------------------------------------------------------- plain taskiq


def plain_bodies(n: int) -> list[bytes]:
    """Stock taskiq messages, as its JSON serializer writes a TaskiqMessage's dump."""
    return [
        json.dumps(
            TaskiqMessage(
                task_id=messages.new_task_id(),
                task_name=stock_app.ECHO_TASK,
                labels={},
                args=[],
                kwargs={"message": f"b3-{i}"},
            ).model_dump(mode="json"),
            separators=(",", ":"),
        ).encode()
        for i in range(n)
    ]


async def run_plain(workers: int, tasks: int = TASKS) -> Outcome:
    out = Outcome("plain taskiq", workers, tasks)
    async with bench_env(f"b3-plain-{workers}") as env:
        stream = stock_app.stream_name(env.prefix)
        redis = env.redis()
        proc = procs.Proc(
            f"b3-plain-{workers}",
            procs.python(
                "-m",
                "taskiq",
                "worker",
                "bench.stock_app:make_broker",
                "--workers",
                str(workers),
                "--log-level",
                "WARNING",
            ),
            {"BENCH_STOCK_REDIS_URL": REDIS_URL, "BENCH_STOCK_PREFIX": env.prefix},
        ).start()
        try:
            await wait_readers(redis, workers, proc)
            bodies = plain_bodies(tasks)
            cpu0 = proc.cpu_seconds()
            started = time.monotonic()
            for i in range(0, tasks, 1000):
                async with redis.pipeline(transaction=False) as pipe:
                    for body in bodies[i : i + 1000]:
                        pipe.xadd(stream, {"data": body})
                    await pipe.execute()
            while True:
                g = await _group_state(redis, stream, "taskiq")
                if g and g.get("pending") == 0 and g.get("lag") == 0:
                    break
                if time.monotonic() - started > DRAIN_CAP_SECONDS:
                    out.note = f"not drained within {DRAIN_CAP_SECONDS} s"
                    break
                if not proc.alive():
                    raise RuntimeError(f"worker exited:\n{proc.tail()}")
                await asyncio.sleep(0.05)
            out.seconds = time.monotonic() - started
            out.cpu_seconds = proc.cpu_seconds() - cpu0
            g = await _group_state(redis, stream, "taskiq")
            read = int((g or {}).get("entries-read") or 0)
            out.done = read - int((g or {}).get("pending") or 0)
        finally:
            proc.stop()
            await redis.aclose()
    return out


# --------------------------------------------------------------------------- taskplane


async def run_taskplane(workers: int, tasks: int = TASKS) -> Outcome:
    import asyncpg

    from taskplane.resources import make_redis

    out = Outcome("taskplane", workers, tasks)
    async with bench_env(f"b3-tp-{workers}", database=True) as env:
        ids = await stack.insert_configs(
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
            stack.bench_config(
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
            svc = stack.service(env, redis)
            await wait_readers(redis, workers, worker_procs[0])
            cpu0 = sum(p.cpu_seconds() for p in worker_procs)
            started = time.monotonic()
            for i in range(0, tasks, 1000):
                await svc.batch_run(configs[i : i + 1000], actor=stack.BENCH)
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


# --------------------------------------------------------------------------- the table


COLUMNS = [
    "system",
    "worker processes",
    "tasks",
    "done",
    "elapsed",
    "executions/s",
    "per process/s",
    "worker CPU s",
    "overhead vs plain",
]


async def run(result: Result, args: argparse.Namespace) -> None:
    tasks = (getattr(args, "n", None) or [TASKS])[0]
    with_stock = not getattr(args, "no_stock", False)
    table = result.table(f"B3: {tasks:,} echo tasks, end to end", COLUMNS)
    outcomes: list[Outcome] = []
    for workers in getattr(args, "workers", None) or WORKERS:
        runs = [("taskplane", run_taskplane)] + ([("plain", run_plain)] if with_stock else [])
        pair: dict[str, Outcome] = {}
        for label, fn in runs:
            print(f"  B3 {label} workers={workers} ...", flush=True)
            try:
                o = await fn(workers, tasks)
            except Exception as exc:
                o = Outcome(
                    "taskplane" if label == "taskplane" else "plain taskiq",
                    workers,
                    tasks,
                    note=f"failed: {exc!r}",
                )
            pair[label] = o
            outcomes.append(o)
        for label, o in pair.items():
            overhead = "-"
            if label == "taskplane" and "plain" in pair and o.rate and pair["plain"].rate:
                overhead = f"{(1 - o.rate / pair['plain'].rate) * 100:.0f} %"
            table.add(
                o.system,
                workers,
                stats.count(o.tasks),
                stats.count(o.done),
                stats.secs(o.seconds, 2),
                stats.rate(o.rate),
                stats.rate(o.rate / workers if o.rate else None),
                stats.secs(o.cpu_seconds, 1),
                overhead,
            )
            if o.note:
                result.note(f"{o.system}, {workers} worker(s): {o.note}")
    _goals(result, outcomes)


def _goals(result: Result, outcomes: list[Outcome]) -> None:
    def find(system: str, workers: int) -> Outcome | None:
        return next((o for o in outcomes if o.system == system and o.workers == workers), None)

    tp1, pl1 = find("taskplane", 1), find("plain taskiq", 1)
    if tp1 and tp1.rate:
        result.goal(
            "≥ 2,000 recorded executions/s per worker process",
            tp1.rate >= 2000,
            f"{stats.rate(tp1.rate)} with 1 process"
            + (
                f", {stats.rate(t2.rate / 2)} per process with 2"
                if (t2 := find("taskplane", 2)) and t2.rate
                else ""
            ),
        )
    else:
        result.goal("≥ 2,000 recorded executions/s per worker process", None, "not run")
    if tp1 and pl1 and tp1.rate and pl1.rate:
        overhead = 1 - tp1.rate / pl1.rate
        result.goal(
            "≤ 25 % overhead vs plain taskiq",
            overhead <= 0.25,
            f"{overhead * 100:.0f} % with 1 process "
            f"({stats.rate(tp1.rate)} vs {stats.rate(pl1.rate)})",
        )
    else:
        result.goal("≤ 25 % overhead vs plain taskiq", None, "not run")
