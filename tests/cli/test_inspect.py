"""`taskplane inspect` and `taskplane configs`: what an operator sees, from real Redis and
PostgreSQL state written by the services."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taskplane.actors import CLI
from taskplane.cli import configs as configs_cli
from taskplane.cli import inspect as inspect_cli
from taskplane.db import configs
from taskplane.enums import Event, SchedulerType, ScheduleStatus, Trigger
from taskplane.resources import Resources
from taskplane.services import open_services
from taskplane.settings import Settings
from taskplane.state.keys import Keys
from taskplane.state.schedule_records import ExecutionOutcome
from taskplane.state.schedule_state import ScheduleStateService
from taskplane.worker import recorder
from tests.cli.runner import cli
from tests.worker.buffered import buffer_records


async def _two_configs(
    sessions: async_sessionmaker[AsyncSession], state: ScheduleStateService
) -> tuple[int, int]:
    async with sessions() as session, session.begin():
        echo = await configs.create(
            session,
            name="nightly-echo",
            task_type="echo",
            scheduler_type=SchedulerType.INTERVAL,
            schedule_config={"seconds": 60},
            parameters={"message": "hi"},
        )
        manual = await configs.create(
            session,
            name="by-hand",
            task_type="sleep",
            scheduler_type=SchedulerType.MANUAL,
            schedule_config={},
            parameters={"seconds": 1},
        )
    for cid in (echo.id, manual.id):
        await state.create(cid, {}, actor=CLI)
    await state.transition(
        echo.id,
        ScheduleStatus.ACTIVE,
        allowed_from=None,
        event=Event.STARTED,
        actor=CLI,
    )
    await state.transition(
        echo.id,
        ScheduleStatus.PAUSED,
        allowed_from=[ScheduleStatus.ACTIVE],
        event=Event.PAUSED,
        note="db maintenance",
        actor=CLI,
    )
    await state.record_executions(
        [ExecutionOutcome(echo.id, "t1", False, datetime.now(UTC), 1, Trigger.MANUAL)]
    )
    return echo.id, manual.id


async def test_overview_lists_every_schedule_with_status_note_and_counters(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    redis: Redis,
    keys: Keys,
) -> None:
    state = ScheduleStateService(redis, keys)
    echo_id, manual_id = await _two_configs(sessions, state)
    due = datetime.now(UTC) + timedelta(minutes=5)
    await redis.zadd(keys.due, {str(echo_id): int(due.timestamp() * 1000)})

    data = await inspect_cli.overview(settings)
    assert data["summary"] == {"total": 2, "active": 0, "paused": 1, "inactive": 1, "error": 0}
    rows = {row["config_id"]: row for row in data["schedules"]}
    assert rows[echo_id]["name"] == "nightly-echo"
    assert rows[echo_id]["status"] == "paused"
    assert rows[echo_id]["note"] == "db maintenance"
    assert rows[echo_id]["runs"] == 1 and rows[echo_id]["failures"] == 1
    assert rows[echo_id]["last_success"] is False
    assert rows[echo_id]["next_fire_at"].startswith(due.isoformat()[:16])
    assert rows[manual_id]["status"] == "inactive" and rows[manual_id]["next_fire_at"] is None

    only_paused = await inspect_cli.overview(settings, status="paused")
    assert [row["config_id"] for row in only_paused["schedules"]] == [echo_id]
    first = await inspect_cli.overview(settings, limit=1)
    assert len(first["schedules"]) == 1 and first["schedules_matching"] == 2


async def test_detail_shows_state_and_history_newest_first(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    redis: Redis,
    keys: Keys,
) -> None:
    state = ScheduleStateService(redis, keys)
    echo_id, _ = await _two_configs(sessions, state)
    data = await inspect_cli.detail(settings, echo_id)
    assert data["state"]["status"] == "paused"
    assert [e["event"] for e in data["history"]] == ["paused", "started", "created"]
    assert data["history"][0]["note"] == "db maintenance"
    assert data["is_registered"] is False


async def test_detail_of_a_started_schedule_shows_its_registration_and_next_fire(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    resources: Resources,
) -> None:
    async with sessions() as session, session.begin():
        config = await configs.create(
            session,
            name="every-minute",
            task_type="echo",
            scheduler_type=SchedulerType.CRON,
            schedule_config={"cron_expression": "* * * * *"},
            parameters={"message": "tick"},
        )
    service = open_services(resources).scheduler
    await service.on_created(config, actor=CLI)
    await service.start(config, note="go", actor=CLI)
    data = await inspect_cli.detail(settings, config.id)
    assert data["state"]["status"] == "active"
    assert data["is_registered"] is True
    assert data["registered_schedule"]["schedule_id"].endswith(str(config.id))
    assert data["next_fire_at"] is not None
    assert [e["event"] for e in data["history"]][:2] == ["started", "created"]


async def test_inspect_command_prints_json_and_a_table(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    redis: Redis,
    keys: Keys,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state = ScheduleStateService(redis, keys)
    echo_id, _ = await _two_configs(sessions, state)
    as_json = await cli(monkeypatch, settings, "inspect", "--json")
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout)["summary"]["paused"] == 1
    table = await cli(monkeypatch, settings, "inspect")
    assert table.returncode == 0, table.stderr
    assert "nightly-echo" in table.stdout and "db maintenance" in table.stdout
    one = await cli(monkeypatch, settings, "inspect", str(echo_id))
    assert one.returncode == 0, one.stderr
    assert "paused" in one.stdout and "started" in one.stdout
    missing = await cli(monkeypatch, settings, "inspect", "999999")
    assert missing.returncode == 1 and "has no state" in missing.stderr
    assert "Traceback" not in missing.stderr


async def test_configs_list_and_show_compose_rows_with_redis_state(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    redis: Redis,
    keys: Keys,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state = ScheduleStateService(redis, keys)
    echo_id, manual_id = await _two_configs(sessions, state)
    rows = await configs_cli.list_configs(settings, task_type=None, q=None, limit=50)
    by_id = {row["id"]: row for row in rows}
    assert by_id[echo_id]["schedule_status"] == "paused"
    assert by_id[manual_id]["schedule_status"] == "inactive"
    shown = await configs_cli.show_config(settings, echo_id)
    assert shown["name"] == "nightly-echo" and shown["note"] == "db maintenance"
    assert shown["recent_history"][0]["event"] == "paused"

    listed = await cli(monkeypatch, settings, "configs", "list")
    assert listed.returncode == 0, listed.stderr
    assert "nightly-echo" in listed.stdout and "by-hand" in listed.stdout
    missing = await cli(monkeypatch, settings, "configs", "show", "999999")
    assert missing.returncode == 1 and "config 999999 not found" in missing.stderr


async def test_inspect_shows_the_depth_of_a_buffered_recorder(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    redis: Redis,
    keys: Keys,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # exactly when PostgreSQL is down: records wait in the recorder's stream
    await _two_configs(sessions, ScheduleStateService(redis, keys))
    await buffer_records(redis, keys, settings, ["b1", "b2", "b3"])
    assert await recorder.buffered(redis, keys) == 3
    as_json = await cli(monkeypatch, settings, "inspect", "--json")
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout)["recorder_buffer"] == 3
    table = await cli(monkeypatch, settings, "inspect")
    assert table.returncode == 0, table.stderr
    assert "recorder buffer: 3" in table.stdout
