"""Real worker processes (``python -m taskplane.worker``) and a TCP proxy to cut PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taskplane import messages
from taskplane.db import configs
from taskplane.db.models import TaskExecution
from taskplane.enums import SchedulerType, Trigger
from taskplane.settings import Settings
from taskplane.state.keys import Keys
from tests import services as test_services
from tests.conftest import make_test_settings
from tests.support import eventually

ROOT = Path(__file__).resolve().parents[2]
EXTRA_MODULE = "tests.tasks.fixtures.extra_types"
Sessions = async_sessionmaker[AsyncSession]


def worker_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKPLANE_")}
    env.update(
        {
            "TASKPLANE_DATABASE_URL": settings.database_url.get_secret_value(),
            "TASKPLANE_REDIS_URL": settings.redis_url.get_secret_value(),
            "TASKPLANE_REDIS_PREFIX": settings.redis_prefix,
            "TASKPLANE_HEARTBEAT_INTERVAL_SECONDS": str(settings.heartbeat_interval_seconds),
            "TASKPLANE_BROKER_IDLE_TIMEOUT_MS": str(settings.broker_idle_timeout_ms),
            "TASKPLANE_RETRY_BACKOFF_SECONDS": str(settings.retry_backoff_seconds),
            "TASKPLANE_RETRY_BACKOFF_MAX_SECONDS": str(settings.retry_backoff_max_seconds),
            "TASKPLANE_TASK_MODULES": ",".join(settings.task_modules),
            "TASKPLANE_WORKER_METRICS_PORT": "0",
            "TASKPLANE_LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT),
        }
    )
    env.update(extra)
    return env


class WorkerProcess:
    """One ``python -m taskplane.worker`` child; always stopped by the fixture."""

    def __init__(self, settings: Settings, *args: str, **env: str) -> None:
        self.settings = settings
        self.args = args
        self.env = worker_env(settings, **env)
        self.proc: asyncio.subprocess.Process | None = None
        # stderr to a file, never a pipe nobody reads (a full pipe would block the worker)
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115 -- closed by close()
            prefix="worker-", suffix=".log", delete=False
        )

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    async def start(self) -> WorkerProcess:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "taskplane.worker",
            *self.args,
            cwd=str(ROOT),
            env=self.env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=self.log,
        )
        return self

    async def wait_ready(self, redis: Redis, keys: Keys, within: float = 60.0) -> None:
        """Ready once its heartbeat is in ``Keys.workers`` (the group exists by then)."""

        async def beating() -> bool:
            assert self.proc is not None
            if self.proc.returncode is not None:
                raise AssertionError(f"worker exited {self.proc.returncode}: {self.output()}")
            return bool(await redis.hlen(keys.workers))

        await eventually(beating, within=within)

    async def stop(self, sig: int = signal.SIGTERM, within: float = 30.0) -> int | None:
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return proc.returncode if proc else None
        proc.send_signal(sig)
        try:
            await asyncio.wait_for(proc.wait(), within)
        except TimeoutError:
            proc.kill()
            await proc.wait()
        return proc.returncode

    def close(self) -> None:
        self.log.close()
        Path(self.log.name).unlink(missing_ok=True)


@pytest.fixture
async def spawn() -> AsyncIterator[Any]:
    """``await spawn(settings, *args)`` starts a worker; every one is stopped after the test."""
    started: list[WorkerProcess] = []

    async def _spawn(settings: Settings, *args: str, **env: str) -> WorkerProcess:
        w = await WorkerProcess(settings, *args, **env).start()
        started.append(w)
        return w

    yield _spawn
    for w in started:
        await w.stop(signal.SIGKILL)
        w.close()


def fast_settings(services: test_services.TestServices, **over: Any) -> Settings:
    values: dict[str, Any] = {
        "task_modules": [EXTRA_MODULE],
        "retry_backoff_seconds": 0.05,
        "retry_backoff_max_seconds": 0.2,
        "broker_idle_timeout_ms": 1000,
        **over,
    }
    return make_test_settings(services, **values)


async def new_config(sessions: Sessions, task_type: str = "echo", **over: Any) -> int:
    async with sessions() as s, s.begin():
        c = await configs.create(
            s,
            name=over.pop("name", f"{task_type}-{os.urandom(4).hex()}"),
            task_type=task_type,
            scheduler_type=SchedulerType.MANUAL,
            schedule_config={},
            parameters=over.pop("parameters", {}),
            **over,
        )
        return c.id


async def send(
    redis: Redis,
    keys: Keys,
    config_id: int,
    task_type: str,
    parameters: dict[str, Any],
    *,
    trigger: Trigger = Trigger.MANUAL,
    **kw: Any,
) -> str:
    out = messages.build(
        config_id=config_id,
        task_type=task_type,
        queue=kw.pop("queue", "default"),
        parameters=parameters,
        trigger=trigger,
        **kw,
    )
    await messages.send_many(redis, keys, [out])
    return out.task_id


async def rows(sessions: Sessions, **where: Any) -> list[TaskExecution]:
    async with sessions() as s:
        stmt = select(TaskExecution).order_by(TaskExecution.task_id, TaskExecution.attempt)
        for name, value in where.items():
            stmt = stmt.where(getattr(TaskExecution, name) == value)
        return list(await s.scalars(stmt))


async def wait_rows(sessions: Sessions, n: int, within: float = 60.0, **where: Any) -> list[Any]:
    found: list[TaskExecution] = []

    async def enough() -> bool:
        nonlocal found
        found = await rows(sessions, **where)
        return len(found) >= n

    await eventually(enough, within=within)
    return found


class TcpProxy:
    """A TCP proxy in the test's event loop: ``stop()`` refuses and cuts every connection
    (the backend looks unreachable), ``start()`` serves again on the same port."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None
        for w in list(self.writers):
            w.transport.abort()
        self.writers.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self.writers.update({writer, up_writer})

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.IncompleteReadError):
                pass
            finally:
                dst.transport.abort()
                self.writers.discard(dst)

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
