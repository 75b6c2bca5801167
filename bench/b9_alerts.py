"""B9 - alert detection cost: does a detector pass cost the same whatever the number of
schedules, when the number of alerting configs is the same?"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from bench import procs, stack, stats
from bench.env import BenchEnv, bench_env
from bench.results import Result

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from taskplane.alerts.detector import Detector

TITLE = "alert detection cost with the number of schedules"
SIZES = [1_000, 100_000]
ALERTING = 1_000  # configs with alerts, at every size
DUE_PER_PASS = 100  # late checks due in each pass
PASSES = 100  # measured passes per size, after WARMUP_PASSES
WARMUP_PASSES = 10
FLAT = 1.5

DESCRIPTION = f"""
What one pass of the alert detector (`taskplane.alerts.detector.Detector.check`, the work
the leading alert loop does every `alert_check_interval_seconds`) costs with N = 1,000 and
100,000 registered interval schedules, of which the same {ALERTING:,} have alerts
(`late_after_seconds` 30 and `failures_in_row` 3, active, with their schedule state and
alert settings written as the ConfigService writes them). The other schedules are
registered (their data key and `due` score, as core writes them) and have no
state: the detector never reads them, which is the point.

Each pass has {DUE_PER_PASS} late checks due (their watched due time a minute ago, a run
marked started for it: each check moves on to the next due time, the common case), and
examines every config with `failures_in_row` (none failing). {PASSES} passes per size after
{WARMUP_PASSES} warm-up ones, the sizes taking turns pass by pass, on one fake clock, in the
bench process against the bench Redis. "Detector CPU" is the bench process's CPU time
(`time.process_time`) across the pass; "wall" adds the Redis round trips. The cost is flat
when the median CPU per pass at 100,000 schedules is at most {FLAT}x the one at 1,000.
"""


@dataclass
class PassFigures:
    n: int
    passes: int
    examined: int
    cpu_median: float
    wall_p50: float
    wall_p99: float


async def prepare(env: BenchEnv, redis: Redis, n: int, now: datetime) -> Detector:
    """N registered schedules; the first ALERTING active, with state and alert settings."""
    from taskplane.alerts.detector import Detector
    from taskplane.alerts.incidents import AlertSettings
    from taskplane.alerts.store import AlertStore
    from taskplane.enums import ScheduleStatus
    from taskplane.epoch import to_ms
    from taskplane.state.schedule_records import Transition

    svc = stack.service(env, redis)
    configs = stack.interval_configs(n, 3600)
    await stack.load_directly(svc, redis, env, configs)
    alerting = configs[:ALERTING]
    await stack.create_state(svc, alerting)
    for i in range(0, len(alerting), 500):
        await svc.state.transition_many(
            [Transition(c.id, ScheduleStatus.ACTIVE, None, None) for c in alerting[i : i + 500]],
            actor=stack.BENCH,
        )
    store = AlertStore(redis, env.keys, svc.state)
    dues = await svc.core.next_due_many([c.id for c in alerting])
    for c in alerting:
        due = dues.get(c.id)
        await store.configure(
            c.id,
            AlertSettings(c.name, late_after_seconds=30, failures_in_row=3),
            watch_due_ms=to_ms(due) if due is not None else None,
            now_ms=to_ms(now),
        )
    return Detector(store, svc.state, svc.core, webhook_count=0)


async def make_due(detector: Detector, now: datetime) -> None:
    """The pass's DUE_PER_PASS late checks: due a minute ago, a run marked started for it."""
    from taskplane.epoch import to_ms

    store, redis = detector.store, detector.store.redis
    keys = store.keys
    hot = [str(i) for i in range(1, DUE_PER_PASS + 1)]
    due_ms = to_ms(now - timedelta(seconds=60))
    async with redis.pipeline(transaction=False) as pipe:
        pipe.hset(keys.alert_watched_due, mapping=dict.fromkeys(hot, due_ms))
        pipe.zadd(keys.alert_late_checks, dict.fromkeys(hot, due_ms + 30_000))
        pipe.hset(keys.alert_started, mapping=dict.fromkeys(hot, due_ms))
        await pipe.execute()


async def measure(redis: Redis, sizes: Sequence[int], passes: int) -> list[PassFigures]:
    clock = datetime.now(UTC).replace(microsecond=0)
    async with AsyncExitStack() as envs:
        detectors: list[tuple[int, Detector]] = []
        for n in sizes:
            env = await envs.enter_async_context(bench_env(f"b9-{n}"))
            print(f"  B9 registering {n:,} schedules, {ALERTING:,} alerting ...", flush=True)
            detectors.append((n, await prepare(env, redis, n, clock)))
        gc.collect()
        cpu: dict[int, list[float]] = {n: [] for n in sizes}
        wall: dict[int, list[float]] = {n: [] for n in sizes}
        examined = dict.fromkeys(sizes, 0)
        print(f"  B9 {WARMUP_PASSES + passes} passes on each size, in turns ...", flush=True)
        with procs.profile_self("b9-detector-passes"):
            for i in range(WARMUP_PASSES + passes):
                clock += timedelta(seconds=5)
                for n, detector in detectors:
                    await make_due(detector, clock)
                    c0, w0 = time.process_time(), time.perf_counter()
                    done = await detector.check(clock)
                    c1, w1 = time.process_time(), time.perf_counter()
                    if done.opened:
                        raise RuntimeError("a bench pass opened an incident")
                    if i >= WARMUP_PASSES:
                        cpu[n].append(c1 - c0)
                        wall[n].append(w1 - w0)
                        examined[n] += done.examined
    return [
        PassFigures(
            n,
            passes,
            examined[n] // max(1, passes),
            stats.percentile(cpu[n], 50) or 0.0,
            stats.percentile(wall[n], 50) or 0.0,
            stats.percentile(wall[n], 99) or 0.0,
        )
        for n in sizes
    ]


def _cpu_ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


async def run(result: Result, args: argparse.Namespace) -> None:
    from taskplane.resources import make_redis

    sizes = sorted(set(getattr(args, "n", None) or SIZES))
    async with bench_env("b9") as env:
        redis = make_redis(env.settings())
        try:
            figures = await measure(redis, sizes, PASSES * (5 if procs.profiling() else 1))
        finally:
            await redis.aclose()
    t = result.table(
        f"B9: one detector pass, {ALERTING:,} alerting configs, {DUE_PER_PASS} late checks due, "
        f"{PASSES} passes per size",
        [
            "registered schedules",
            "alerting",
            "configs examined / pass",
            "detector CPU / pass",
            "wall / pass p50",
            "wall / pass p99",
        ],
    )
    for f in figures:
        t.add(
            stats.count(f.n),
            stats.count(min(ALERTING, f.n)),
            stats.count(f.examined),
            _cpu_ms(f.cpu_median),
            stats.ms(f.wall_p50),
            stats.ms(f.wall_p99),
        )
    lo, hi = figures[0], figures[-1]
    if len(figures) < 2 or lo.cpu_median <= 0:
        result.goal(
            f"detector pass flat: CPU at {hi.n:,} <= {FLAT}x at {lo.n:,}", None, "needs two sizes"
        )
        return
    ratio = hi.cpu_median / lo.cpu_median
    result.goal(
        f"detector pass flat: CPU per pass at {hi.n:,} schedules <= {FLAT}x at {lo.n:,} "
        f"({ALERTING:,} alerting)",
        ratio <= FLAT,
        f"{ratio:.2f}x ({_cpu_ms(lo.cpu_median)} / {_cpu_ms(hi.cpu_median)})",
    )
