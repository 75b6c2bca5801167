"""`taskplane run` and `taskplane reconcile`: the same SchedulerService the API uses."""

from __future__ import annotations

import json

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taskplane.actors import CLI
from taskplane.settings import Settings
from taskplane.state.keys import Keys
from taskplane.state.schedule_state import ScheduleStateService
from tests.cli.rows import echo_config
from tests.cli.runner import cli


async def _echo(sessions: async_sessionmaker[AsyncSession], name: str) -> int:
    return await echo_config(sessions, name)


async def test_run_sends_one_manual_or_a_batch_and_reports_unknown_ids(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    redis: Redis,
    keys: Keys,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first, second = await _echo(sessions, "one"), await _echo(sessions, "two")
    for cid in (first, second):
        await ScheduleStateService(redis, keys).create(
            cid, {}, actor=CLI
        )  # as the API's create does
    single = await cli(monkeypatch, settings, "run", str(first), "--json")
    assert single.returncode == 0, single.stderr
    [sent] = json.loads(single.stdout)
    assert sent["config_id"] == first and sent["task_id"]
    assert await redis.xlen(keys.broker_stream("default")) == 1
    events, _ = await ScheduleStateService(redis, keys).history(first)
    assert events[0].event == "run_requested" and events[0].details["trigger"] == "manual"

    batch = await cli(monkeypatch, settings, "run", str(first), str(second), "999999")
    assert batch.returncode == 1  # one id could not be run
    assert "config 999999 not found" in batch.stdout
    assert await redis.xlen(keys.broker_stream("default")) == 3
    events, _ = await ScheduleStateService(redis, keys).history(second)
    assert events[0].details["trigger"] == "batch"


async def test_reconcile_gives_state_to_configs_without_it_and_removes_orphans(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    redis: Redis,
    keys: Keys,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cid = await _echo(sessions, "stateless")  # created behind the services' back
    state = ScheduleStateService(redis, keys)
    await state.create(987_654, {}, actor=CLI)  # state of a config that does not exist

    result = await cli(monkeypatch, settings, "reconcile", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["checked"] == 1
    assert [r["config_id"] for r in report["repairs"]] == [cid]
    assert report["orphans_removed"] == [987_654]
    assert await state.status(cid) == "inactive"
    assert await state.get(987_654) is None

    again = await cli(monkeypatch, settings, "reconcile")
    assert again.returncode == 0, again.stderr
    assert "0 repaired, 0 orphans removed" in again.stdout
