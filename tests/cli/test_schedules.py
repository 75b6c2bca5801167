"""`taskplane schedules ACTION ID...`: the bulk control report from the shell, through the
same service function as POST /schedules/bulk/{action}."""

from __future__ import annotations

import json

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taskplane.actors import CLI
from taskplane.enums import SchedulerType
from taskplane.settings import Settings
from taskplane.state.keys import Keys
from taskplane.state.schedule_state import ScheduleStateService
from tests.cli.rows import echo_config
from tests.cli.runner import cli


async def _interval(sessions: async_sessionmaker[AsyncSession], name: str) -> int:
    return await echo_config(sessions, name, SchedulerType.INTERVAL, {"hours": 1})


async def test_schedules_start_pause_and_report_refusals(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    redis: Redis,
    keys: Keys,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state = ScheduleStateService(redis, keys)
    first, second = await _interval(sessions, "one"), await _interval(sessions, "two")
    for cid in (first, second):
        await state.create(cid, {}, actor=CLI)  # as the API's create does
    started = await cli(
        monkeypatch, settings, "schedules", "start", str(first), str(second), "--json"
    )
    assert started.returncode == 0, started.stderr
    report = json.loads(started.stdout)
    assert [(r["config_id"], r["status"]) for r in report["results"]] == [
        (first, "active"),
        (second, "active"),
    ]
    assert report["errors"] == []

    paused = await cli(
        monkeypatch, settings, "schedules", "pause", str(first), "999999", "--note", "maintenance"
    )
    assert paused.returncode == 1  # one id was refused
    assert f"config {first}: paused" in paused.stdout
    assert "config 999999: refused (404): config 999999 not found" in paused.stdout
    assert (await state.get(first)).note == "maintenance"  # type: ignore[union-attr]

    again = await cli(monkeypatch, settings, "schedules", "resume", str(second))
    assert again.returncode == 1
    assert "refused (409)" in again.stdout and "only a paused schedule" in again.stdout
