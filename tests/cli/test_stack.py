"""The CLI finds the `taskplane dev` of its folder by itself (``.taskplane/stack.json``), says
which stack `inspect` talks to, and refuses in one line when that stack is not running or
there is none: never another Redis's data."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taskplane.actors import CLI
from taskplane.cli.stack import (
    STACK_FILE,
    DevStack,
    describe_stack,
    read_stack,
    remove_stack,
    settings_for_command,
    write_stack,
)
from taskplane.db import configs
from taskplane.embedded_redis import free_port
from taskplane.enums import SchedulerType
from taskplane.settings import Settings
from taskplane.state.keys import Keys
from taskplane.state.schedule_state import ScheduleStateService
from tests.cli.runner import Result, run_main


def _stack(settings: Settings, pid: int) -> DevStack:
    return DevStack(
        pid=pid,
        redis_url=settings.redis_url.get_secret_value(),
        database_url=settings.database_url.get_secret_value(),
        api_url="http://127.0.0.1:8000",
    )


def _run(monkeypatch: pytest.MonkeyPatch, settings: Settings, folder: Path, *args: str) -> Result:
    # no URL set: only the test's key prefix, as a dev stack of its own would have
    return run_main(
        monkeypatch, *args, env={"TASKPLANE_REDIS_PREFIX": settings.redis_prefix}, cwd=folder
    )


async def _one_config(
    sessions: async_sessionmaker[AsyncSession], state: ScheduleStateService
) -> int:
    async with sessions() as session, session.begin():
        row = await configs.create(
            session,
            name="seen-through-the-stack",
            task_type="echo",
            scheduler_type=SchedulerType.MANUAL,
            schedule_config={},
            parameters={"message": "hi"},
        )
    await state.create(row.id, {}, actor=CLI)
    return row.id


async def test_commands_in_the_dev_folder_use_its_stack_and_inspect_names_it(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    redis: Redis,
    keys: Keys,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    config_id = await _one_config(sessions, ScheduleStateService(redis, keys))
    write_stack(_stack(settings, os.getpid()), tmp_path)

    shown = await asyncio.to_thread(_run, monkeypatch, settings, tmp_path, "inspect")
    assert shown.returncode == 0, shown.stderr
    first = shown.stdout.splitlines()[0]
    assert first.startswith(f"stack: taskplane dev in {tmp_path} (pid {os.getpid()}")
    assert "seen-through-the-stack" in shown.stdout
    detail = await asyncio.to_thread(
        _run, monkeypatch, settings, tmp_path, "inspect", str(config_id)
    )
    assert detail.returncode == 0, detail.stderr
    assert "has no state" not in detail.stdout
    listed = await asyncio.to_thread(_run, monkeypatch, settings, tmp_path, "configs", "list")
    assert listed.returncode == 0 and "seen-through-the-stack" in listed.stdout


def test_a_stack_file_whose_dev_is_gone_is_refused_in_one_line(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        text=True,
        capture_output=True,
        check=True,
    )
    write_stack(_stack(settings, int(gone.stdout)), tmp_path)
    for args in (("inspect",), ("run", "1"), ("schedules", "pause", "1"), ("reconcile",)):
        result = _run(monkeypatch, settings, tmp_path, *args)
        assert result.returncode == 1, args
        [line] = result.stderr.strip().splitlines()
        assert "is not running" in line and f"pid {gone.stdout.strip()}" in line, line


def test_no_stack_and_no_url_is_one_line_never_the_default_redis(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for args in (("inspect",), ("configs", "list"), ("token", "revoke", "1")):
        result = _run(monkeypatch, settings, tmp_path, *args)
        assert result.returncode == 1, args
        [line] = result.stderr.strip().splitlines()
        assert "no taskplane stack here" in line and "taskplane dev" in line, line


def test_a_configured_url_wins_over_the_stack_file(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    gone = DevStack(pid=2**22 + 1, redis_url="redis://127.0.0.1:1/0", database_url="x", api_url="")
    write_stack(gone, tmp_path)
    result = run_main(
        monkeypatch,
        "inspect",
        env={
            "TASKPLANE_REDIS_URL": settings.redis_url.get_secret_value(),
            "TASKPLANE_DATABASE_URL": settings.database_url.get_secret_value(),
            "TASKPLANE_REDIS_PREFIX": settings.redis_prefix,
        },
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].endswith("(configured)")


def test_stop_removes_only_its_own_stack_file(settings: Settings, tmp_path: Path) -> None:
    write_stack(_stack(settings, 12345), tmp_path)
    remove_stack(54321, tmp_path)
    assert read_stack(tmp_path) is not None
    remove_stack(12345, tmp_path)
    assert not (tmp_path / STACK_FILE).exists()


def test_configured_sentinels_win_over_the_stack_file_and_inspect_names_them(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    gone = DevStack(pid=2**22 + 1, redis_url="redis://127.0.0.1:1/0", database_url="x", api_url="")
    write_stack(gone, tmp_path)
    result = run_main(
        monkeypatch,
        "inspect",
        env={
            "TASKPLANE_REDIS_SENTINELS": f"127.0.0.1:{free_port()}",  # no Sentinel answers
            "TASKPLANE_REDIS_SENTINEL_MASTER": "tp-main",
            "TASKPLANE_DATABASE_URL": settings.database_url.get_secret_value(),
            "TASKPLANE_REDIS_PREFIX": settings.redis_prefix,
        },
        cwd=tmp_path,
    )
    # not the stack file's dev (gone): the Sentinels, and none of them answers
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line == (
        "error: Redis: No master found for 'tp-main' (asked TASKPLANE_REDIS_SENTINELS)"
    ), line
    shown = describe_stack(settings_for_command())  # the environment run_main set
    assert shown.startswith("stack: redis primary 'tp-main' through the Sentinels 127.0.0.1:")
    assert shown.endswith("(configured)")


def test_dev_refuses_sentinels_in_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    result = run_main(
        monkeypatch,
        "dev",
        env={
            "TASKPLANE_REDIS_SENTINELS": "127.0.0.1:26379",
            "TASKPLANE_REDIS_SENTINEL_MASTER": "tp-main",
            "TASKPLANE_API_PORT": str(free_port()),
        },
        cwd=tmp_path,
    )
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert "taskplane dev runs on one Redis" in line and "TASKPLANE_REDIS_SENTINELS" in line
    assert not (tmp_path / STACK_FILE).exists() and not (tmp_path / ".taskplane").exists()
