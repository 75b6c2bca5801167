"""The baseline a user would pick instead: stock taskiq + taskiq-redis, default settings, JSON.

Run with the stock CLIs (factories, so importing this opens nothing):

    taskiq scheduler bench.stock_app:make_scheduler     # B1, B2
    taskiq worker bench.stock_app:make_broker           # B3 (plain echo, no recording)

Settings come from BENCH_STOCK_REDIS_URL and BENCH_STOCK_PREFIX (a key prefix per run).
"""

from __future__ import annotations

import os
from typing import Any

from taskiq import TaskiqScheduler
from taskiq.serializers import JSONSerializer
from taskiq_redis import ListRedisScheduleSource, RedisStreamBroker

ECHO_TASK = "bench:echo"


def _url() -> str:
    return os.environ.get("BENCH_STOCK_REDIS_URL", "redis://127.0.0.1:6379/9")


def _prefix() -> str:
    return os.environ.get("BENCH_STOCK_PREFIX", "bench:stock:")


def stream_name(prefix: str) -> str:
    return f"{prefix}stream"


def source_prefix(prefix: str) -> str:
    return f"{prefix}schedule"


def make_source(url: str | None = None, prefix: str | None = None) -> ListRedisScheduleSource:
    return ListRedisScheduleSource(
        url or _url(), prefix=source_prefix(prefix or _prefix()), serializer=JSONSerializer()
    )


def make_broker(url: str | None = None, prefix: str | None = None) -> RedisStreamBroker:
    broker = RedisStreamBroker(url or _url(), queue_name=stream_name(prefix or _prefix()))
    broker.with_serializer(JSONSerializer())

    @broker.task(task_name=ECHO_TASK)
    async def echo(message: str, fail: bool = False) -> dict[str, Any]:
        if fail:
            raise RuntimeError(message)
        return {"message": message}

    return broker


def make_scheduler() -> TaskiqScheduler:
    return TaskiqScheduler(make_broker(), [make_source()])
