"""Fault-injection tests: real taskplane processes against a private Redis."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from taskplane.resources import make_redis
from taskplane.settings import Settings
from taskplane.state.keys import Keys
from tests import services as test_services
from tests.conftest import make_test_settings
from tests.e2e.processes import kill_group, settings_env, start, stop
from tests.faults.servers import PrivateRedis, private_redis
from tests.worker.conftest import EXTRA_MODULE

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[PrivateRedis]:
    data = tmp_path / "redis"
    data.mkdir()
    with private_redis(data) as srv:
        yield srv


@pytest.fixture
def fault_settings(services: test_services.TestServices, server: PrivateRedis) -> Settings:
    # broker_idle_timeout_ms stays at its default (300 s): nothing here may wait for it
    return make_test_settings(
        services,
        redis_url=server.url,
        task_modules=[EXTRA_MODULE],
        heartbeat_interval_seconds=0.5,
        heartbeat_stale_seconds=3.0,
    )


@pytest.fixture
async def private(fault_settings: Settings) -> AsyncIterator[Redis]:
    client = make_redis(fault_settings)
    yield client
    with contextlib.suppress(Exception):
        await client.aclose()
        await client.connection_pool.disconnect()


@pytest.fixture
def keys(fault_settings: Settings) -> Keys:
    return Keys(fault_settings.redis_prefix)


def process_env(settings: Settings, **extra: str) -> dict[str, str]:
    return settings_env(
        settings,
        TASKPLANE_TASK_MODULES=",".join(settings.task_modules),
        TASKPLANE_HEARTBEAT_STALE_SECONDS=str(settings.heartbeat_stale_seconds),
        TASKPLANE_WORKER_METRICS_PORT="0",
        TASKPLANE_SCHEDULER_METRICS_PORT="0",
        TASKPLANE_LOG_LEVEL="INFO",
        TASKPLANE_LOG_FORMAT="text",
        PYTHONPATH=str(ROOT),
        **extra,
    )


Launch = Callable[..., tuple[subprocess.Popen[bytes], Path]]


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Launch]:
    """``launch(settings, "worker", ...)``: a `taskplane ...` process logging to a file;
    every one is killed after the test."""
    procs: list[subprocess.Popen[bytes]] = []

    def _launch(settings: Settings, *args: str, **env: Any) -> tuple[subprocess.Popen[bytes], Path]:
        log = tmp_path / f"{args[0]}-{len(procs)}.log"
        proc = start(list(args), process_env(settings, **env), log, cwd=ROOT)
        procs.append(proc)
        return proc, log

    yield _launch
    for proc in procs:
        stop(proc, within=10)
        kill_group(proc)


def log_lines(log: Path, since: int = 0) -> list[str]:
    """The lines of a process's output from byte ``since`` on."""
    return log.read_bytes()[since:].decode(errors="replace").splitlines()


def warnings_in(lines: list[str]) -> list[str]:
    return [line for line in lines if " WARNING " in line or "Traceback" in line]
