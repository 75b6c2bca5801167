"""APScheduler 4 as B1 runs it, its own deployment: a PostgreSQL data store (SQLAlchemy,
asyncpg) and the Redis event broker; ``python -m bench.apscheduler_app`` is the scheduler
process, running the jobs itself. The job only records its send: one XADD to the run's
stream (the entry id, Redis's clock, is the send time) with its schedule and scheduled fire
time. Settings: BENCH_PEER_REDIS_URL, BENCH_PEER_PREFIX, BENCH_PEER_DATABASE_URL."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from functools import cache

from apscheduler import AsyncScheduler, current_job
from apscheduler.datastores.sqlalchemy import SQLAlchemyDataStore
from apscheduler.eventbrokers.redis import RedisEventBroker
from redis.asyncio import Redis


def stream_name(prefix: str) -> str:
    return f"{prefix}apscheduler:sent"


def _prefix() -> str:
    return os.environ.get("BENCH_PEER_PREFIX", "bench:peer:")


@cache
def _redis() -> Redis:
    return Redis.from_url(os.environ.get("BENCH_PEER_REDIS_URL", "redis://127.0.0.1:6379/9"))


def make_scheduler(redis_url: str, prefix: str, database_url: str) -> AsyncScheduler:
    return AsyncScheduler(
        SQLAlchemyDataStore(database_url),
        RedisEventBroker(redis_url, channel=f"{prefix}apscheduler"),
    )


async def record() -> None:
    """The job: its send, with its schedule and due time, to the stream."""
    job = current_job.get()
    due = job.scheduled_fire_time
    labels = {
        "schedule_id": job.schedule_id,
        "due_ms": round(due.timestamp() * 1000) if due else None,
    }
    await _redis().xadd(
        stream_name(_prefix()), {"data": json.dumps({"task_id": str(job.id), "labels": labels})}
    )


async def main() -> None:
    scheduler = make_scheduler(
        os.environ.get("BENCH_PEER_REDIS_URL", "redis://127.0.0.1:6379/9"),
        _prefix(),
        os.environ["BENCH_PEER_DATABASE_URL"],
    )
    async with scheduler:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, lambda: asyncio.ensure_future(scheduler.stop()))
        await scheduler.run_until_stopped()


if __name__ == "__main__":
    asyncio.run(main())
