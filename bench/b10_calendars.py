"""B10 - B6's tick cost with calendars: does a tick cost the same when one schedule in ten
carries exclusions, requested skips and jitter?"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from bench import b6_growth, stats
from bench.env import BenchEnv, bench_env
from bench.results import Result

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from taskplane.db.configs import ConfigRow

TITLE = "tick cost with exclusions, skips and jitter"
SIZES = b6_growth.SIZES
EVERY = 10  # one schedule in EVERY carries a calendar
JITTER_SECONDS = 60
EXCLUDE = {"dates": ["2030-01-01", "2030-12-24"], "holidays": {"country": "DE"}}

DESCRIPTION = f"""
B6's tick-cost row (its engine, sizes, {b6_growth.DUE_PER_TICK} due per tick, fake clock and
turns), with one schedule in {EVERY} carrying every rule of issue #27: `exclude` (two dates and
the public holidays of DE, none of them on the bench's days), one requested skip (a month
ahead, so it never passes during the run) and `jitter_seconds: {JITTER_SECONDS}`. Of the
{b6_growth.DUE_PER_TICK} schedules due per tick, {b6_growth.DUE_PER_TICK // EVERY} are such
schedules: the bench sets each one's score to the send time of a due time whose jitter puts it
within the last second, and records that due time (`Keys.jittered_dues`) as the engine's fire
script does, so each is sent once per tick as a steady-state jittered fire is. "plain" is
B6's set, measured again in the same run just before (its sizes taking turns as in B6, then
the calendar sets'), so the two compare on the same machine state. The goal: a tick with
calendars costs at most {b6_growth.FLAT}x a plain tick at the largest size, and stays flat
across sizes.
"""


class WithCalendars:
    """``b6_growth.Calendars``: which configs carry the rules, their skips, their dues."""

    every = EVERY

    def apply(self, configs: list[ConfigRow]) -> list[ConfigRow]:
        config = {
            "seconds": 3600,
            "run_immediately": False,
            "exclude": EXCLUDE,
            "jitter_seconds": JITTER_SECONDS,
        }
        return [c._replace(schedule_config=config) if c.id % EVERY == 0 else c for c in configs]

    async def skip(
        self, redis: Redis, env: BenchEnv, configs: Sequence[ConfigRow], now: datetime
    ) -> None:
        from taskplane.epoch import to_ms
        from taskplane.state.skips import SkipStore

        store = SkipStore(redis, env.keys)
        ahead = to_ms(now + timedelta(days=30))
        for c in configs:
            if c.id % EVERY == 0:
                await store.change(
                    c.id,
                    {ahead: "bench"},
                    is_skip=True,
                    now_ms=to_ms(now),
                    history=env.keys.history(c.id),
                    event="",
                    history_max=10,
                    history_ttl_seconds=3600,
                )

    async def make_due(self, redis: Redis, env: BenchEnv, due: dict[str, int], now_ms: int) -> None:
        from taskplane.scheduling.calendar import jitter_ms

        scores: dict[str, int] = {}
        dues: dict[Any, Any] = {}  # redis-py types its mapping invariantly
        for member in due:
            cid = int(member)
            if cid % EVERY:
                continue
            for k in range(1, 100_000):  # a due whose send time fell in the last second
                d = now_ms - k * 53
                sent = d + jitter_ms(cid, d, JITTER_SECONDS)
                if now_ms - 1000 < sent <= now_ms:
                    scores[member], dues[member] = sent, d
                    break
        if scores:
            await redis.zadd(env.keys.due, scores)
            await redis.hset(env.keys.jittered_dues, mapping=dues)


async def run(result: Result, args: argparse.Namespace) -> None:
    from taskplane.resources import make_redis

    sizes = sorted(set(getattr(args, "n", None) or SIZES))
    ticks = b6_growth.TICKS * (30 if getattr(args, "profile", False) else 1)
    async with bench_env("b10") as env:
        redis = make_redis(env.settings())
        try:
            plain = await b6_growth.measure_ticks(redis, sizes, ticks, name="b10-plain")
            rules = await b6_growth.measure_ticks(
                redis, sizes, ticks, calendars=WithCalendars(), name="b10-calendars"
            )
        finally:
            await redis.aclose()
    t = result.table(
        f"B10: tick cost, {b6_growth.DUE_PER_TICK} due per tick, {ticks} ticks per size; "
        f"1 in {EVERY} schedules with exclusions, a skip and jitter",
        [
            "registered",
            "schedules",
            "fires sent",
            "engine CPU / tick",
            "wall / tick p50",
            "wall / tick p99",
        ],
    )
    for label, figures in (("plain", plain), ("10 % with calendars", rules)):
        for f in figures:
            t.add(
                stats.count(f.n),
                label,
                stats.count(f.sent),
                b6_growth._cpu_ms(f.cpu_median),
                stats.ms(f.wall_p50),
                stats.ms(f.wall_p99),
            )
    largest = max(sizes)
    p = next(f for f in plain if f.n == largest)
    c = next(f for f in rules if f.n == largest)
    ratio = c.cpu_median / p.cpu_median if p.cpu_median else None
    result.goal(
        f"a tick with calendars at {largest:,} costs <= {b6_growth.FLAT}x a plain one",
        None if ratio is None else ratio <= b6_growth.FLAT,
        "no figure" if ratio is None else f"{ratio:.2f}x",
    )
    flat_ratio, met = b6_growth.flat([(f.n, f.cpu_median) for f in rules])
    result.goal(
        f"tick with calendars flat: engine CPU at {largest:,} <= {b6_growth.FLAT}x at "
        f"{min(sizes):,}",
        met,
        "needs two sizes" if flat_ratio is None else f"{flat_ratio:.2f}x",
    )
