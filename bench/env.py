"""Where a benchmark run lives: its own Redis key prefix on Redis DB 9 (or on a server of its
own, ``redis_url``) and, when it needs one,
its own freshly migrated PostgreSQL database. Everything is removed afterwards."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

from taskplane.settings import Settings
from taskplane.state.keys import Keys

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")
PG_ADMIN_URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
ADMIN_TOKEN = "bench-admin-token"


@dataclass
class BenchEnv:
    label: str
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    database_name: str | None = None
    redis_url: str = REDIS_URL
    """The shared Redis (DB 9) unless a benchmark brings its own server (B11)."""
    own_server: bool = False
    """The Redis is the run's own: its keys take the product's default prefix (what a
    deployment's keys cost), not a run's longer one."""

    @property
    def prefix(self) -> str:
        if self.own_server:
            return str(Settings.model_fields["redis_prefix"].default)
        return f"bench:{self.run_id}:{self.label}:"

    @property
    def keys(self) -> Keys:
        return Keys(self.prefix)

    @property
    def database_url(self) -> str:
        assert self.database_name is not None, "this benchmark asked for no database"
        base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
        return f"{base}/{self.database_name}"

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "redis_url": self.redis_url,
            "redis_prefix": self.prefix,
            "admin_token": ADMIN_TOKEN,
            "worker_metrics_port": 0,
            "scheduler_metrics_port": 0,
            "log_level": "WARNING",
            **overrides,
        }
        if self.database_name is not None:
            values.setdefault("database_url", self.database_url)
        return Settings(_env_file=None, **values)

    def process_env(self, **overrides: Any) -> dict[str, str]:
        """TASKPLANE_* variables that give a child process the same settings."""
        s = self.settings(**overrides)
        env = {
            "TASKPLANE_REDIS_URL": s.redis_url.get_secret_value(),
            "TASKPLANE_REDIS_PREFIX": s.redis_prefix,
            "TASKPLANE_ADMIN_TOKEN": ADMIN_TOKEN,
            "TASKPLANE_WORKER_METRICS_PORT": str(s.worker_metrics_port),
            "TASKPLANE_SCHEDULER_METRICS_PORT": str(s.scheduler_metrics_port),
            "TASKPLANE_LOG_LEVEL": s.log_level,
        }
        if self.database_name is not None:
            env["TASKPLANE_DATABASE_URL"] = self.database_url
        for key, value in overrides.items():
            env[f"TASKPLANE_{key.upper()}"] = str(value)
        return env

    def redis(self, *, decode: bool = True) -> Redis:
        return Redis.from_url(self.redis_url, decode_responses=decode, socket_timeout=60)


async def _pg(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_URL, timeout=10)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def delete_prefix(redis: Redis, prefix: str) -> None:
    batch: list[Any] = []
    async for key in redis.scan_iter(match=f"{prefix}*", count=5000):
        batch.append(key)
        if len(batch) >= 5000:
            await redis.unlink(*batch)
            batch.clear()
    if batch:
        await redis.unlink(*batch)


@asynccontextmanager
async def bench_env(
    label: str, *, database: bool = False, redis_url: str = REDIS_URL, own_server: bool = False
) -> AsyncIterator[BenchEnv]:
    """``own_server``: ``redis_url`` is a server of the run's own (``BenchEnv.own_server``)."""
    env = BenchEnv(label, redis_url=redis_url, own_server=own_server)
    if database:
        from taskplane.db import migrations
        from taskplane.db.session import make_engine

        env.database_name = f"taskplane_bench_{env.run_id}"
        await _pg(f'CREATE DATABASE "{env.database_name}"')
        engine = make_engine(env.settings())
        try:
            await migrations.upgrade(engine, env.settings())
        finally:
            await engine.dispose()
    try:
        yield env
    finally:
        redis = env.redis()
        try:
            await delete_prefix(redis, env.prefix)
        finally:
            await redis.aclose()
        if env.database_name is not None:
            await _pg(f'DROP DATABASE IF EXISTS "{env.database_name}" WITH (FORCE)')
