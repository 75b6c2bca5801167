"""Registration alone: ``python -m bench.register [--n N ...] [--redis-url URL]``.

What B1's "register" step times, without the scheduler or the stock side: N interval configs
(objects, no rows) get their state (``stack.create_state``, not timed), then are started
through the service layer (``stack.start_all``: ``SchedulerService.start_many``), timed.
Prints, per N, the wall time, this process's CPU seconds and redis-server's (``INFO cpu``:
the whole server's, so use a Redis nobody else is loading, e.g. a private ``redis-server
--port 6399`` with ``--redis-url redis://127.0.0.1:6399/0``), then Redis's memory per
config: ``used_memory`` added by both steps ÷ N (the whole server's too), and by key family
(B11's ``memory_by_family``: ``MEMORY USAGE`` of sampled keys) with each family's
``OBJECT ENCODING``. Its keys are removed after. Nothing is stored in bench/results: a
quick look for whoever changes the bulk path or what a schedule stores.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass

from redis.asyncio import Redis

from bench import stack
from bench.env import REDIS_URL, delete_prefix


@dataclass(frozen=True)
class Timing:
    n: int
    wall: float
    cpu: float
    redis_cpu: float

    def line(self, what: str) -> str:
        return (
            f"{what} {self.n:>7,}: {self.wall:6.2f} s wall, {self.cpu:5.2f} s CPU here, "
            f"{self.redis_cpu:5.2f} s CPU in redis-server "
            f"({1e6 * (self.cpu + self.redis_cpu) / self.n:.0f} us CPU per config)"
        )


async def _redis_cpu(redis: Redis) -> float:
    info = await redis.info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


async def _timed(redis: Redis, n: int, step: Awaitable[object]) -> Timing:
    wall, cpu, rcpu = time.monotonic(), time.process_time(), await _redis_cpu(redis)
    await step
    return Timing(
        n, time.monotonic() - wall, time.process_time() - cpu, await _redis_cpu(redis) - rcpu
    )


@dataclass(frozen=True)
class Memory:
    n: int
    used: int  # used_memory added
    families: list[tuple[str, float, str]]  # key family, bytes per config, encoding

    def lines(self) -> list[str]:
        out = [f"redis memory {self.n:>7,}: {self.used / self.n:,.0f} B per config (used_memory)"]
        out += [f"  {name:<36} {per:8,.0f} B  {enc}" for name, per, enc in self.families]
        return out


async def _memory(redis: Redis, prefix: str, n: int, used_before: int) -> Memory:
    from bench.b11_million import memory_by_family

    used = int((await redis.info("memory"))["used_memory"]) - used_before
    families = []
    for f in await memory_by_family(redis, prefix, n):
        enc = "?"
        async for key in redis.scan_iter(match=prefix + f.name.replace("N", "*"), count=10_000):
            enc = str(await redis.object("encoding", key))
            break
        families.append((f.name, f.bytes_per_schedule, enc))
    return Memory(n, used, families)


async def measure(n: int, redis_url: str) -> tuple[Timing, Timing, Memory]:
    """(create state, start, memory) of ``n`` configs on a fresh key prefix."""
    from taskplane.resources import make_redis
    from taskplane.scheduling.service import SchedulerService
    from taskplane.settings import Settings
    from taskplane.state.keys import Keys
    from taskplane.tasks.registry import load_registry

    prefix = f"bench:{uuid.uuid4().hex[:8]}:register:"
    settings = Settings(_env_file=None, redis_url=redis_url, redis_prefix=prefix)
    redis = make_redis(settings)
    try:
        svc = SchedulerService(redis, Keys(prefix), load_registry(settings))
        configs = stack.interval_configs(n, 10)
        used_before = int((await redis.info("memory"))["used_memory"])
        created = await _timed(redis, n, stack.create_state(svc, configs))
        started = await _timed(redis, n, stack.start_all(svc, configs, cap_seconds=600))
        if await redis.zcard(svc.core.due_key) != n:
            raise RuntimeError("not every config was registered")
        return created, started, await _memory(redis, prefix, n, used_before)
    finally:
        await delete_prefix(redis, prefix)
        await redis.aclose()


async def main(sizes: list[int], redis_url: str) -> None:
    for n in sizes:
        created, started, memory = await measure(n, redis_url)
        print(created.line("create state"))
        print(started.line("start       "))
        print("\n".join(memory.lines()))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.register", description=__doc__)
    parser.add_argument("--n", type=int, action="append", help="configs (repeatable)")
    parser.add_argument("--redis-url", default=REDIS_URL)
    args = parser.parse_args()
    asyncio.run(main(args.n or [10_000, 100_000], args.redis_url))
