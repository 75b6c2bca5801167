"""Registration alone: ``python -m bench.register [--n N ...] [--redis-url URL]``.

What B1's "register" step times, without the scheduler or the stock side: N interval configs
(objects, no rows) get their state (``stack.create_state``, not timed), then are started
through the service layer (``stack.start_all``: ``SchedulerService.start_many``), timed.
Prints, per N, the wall time, this process's CPU seconds and redis-server's (``INFO cpu``:
the whole server's, so use a Redis nobody else is loading, e.g. a private ``redis-server
--port 6399`` with ``--redis-url redis://127.0.0.1:6399/0``). Its keys are removed after.
Nothing is stored in bench/results: a quick look for whoever changes the bulk path.
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


async def measure(n: int, redis_url: str) -> tuple[Timing, Timing]:
    """(create state, start) of ``n`` configs on a fresh key prefix."""
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
        created = await _timed(redis, n, stack.create_state(svc, configs))
        started = await _timed(redis, n, stack.start_all(svc, configs, cap_seconds=600))
        if await redis.zcard(svc.core.due_key) != n:
            raise RuntimeError("not every config was registered")
        return created, started
    finally:
        await delete_prefix(redis, prefix)
        await redis.aclose()


async def main(sizes: list[int], redis_url: str) -> None:
    for n in sizes:
        created, started = await measure(n, redis_url)
        print(created.line("create state"))
        print(started.line("start       "))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.register", description=__doc__)
    parser.add_argument("--n", type=int, action="append", help="configs (repeatable)")
    parser.add_argument("--redis-url", default=REDIS_URL)
    args = parser.parse_args()
    asyncio.run(main(args.n or [10_000, 100_000], args.redis_url))
