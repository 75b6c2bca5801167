"""A late record (its config was deleted while it ran or waited in the buffer) is dropped with
one log line, and so is its counter update; on both databases, where ids are never reused,
it never shows up as an execution of a config created since."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select

from taskplane.actors import CLI
from taskplane.db import configs
from taskplane.db.models import TaskExecution
from taskplane.enums import Trigger
from taskplane.settings import Settings
from taskplane.state.keys import Keys
from taskplane.state.schedule_records import ExecutionOutcome
from taskplane.state.schedule_state import ScheduleStateService
from taskplane.worker.flusher import RecordFlusher
from tests.worker.buffered import buffer_records
from tests.worker.conftest import Sessions, new_config


async def test_a_late_record_of_a_deleted_config_is_dropped_with_one_line(
    any_sessions: Sessions,
    redis: Redis,
    keys: Keys,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    state = ScheduleStateService(redis, keys)
    gone = await new_config(any_sessions, name="a")
    async with any_sessions() as s, s.begin():
        await configs.delete(s, gone)
    newer = await new_config(any_sessions, name="b")
    await state.create(newer, {}, actor=CLI)
    assert newer != gone  # never the deleted config's id, SQLite included

    await buffer_records(redis, keys, settings, ["late-1", "late-2"], config_id=gone)

    async def count(records: object) -> int:
        return await state.record_executions(
            [
                ExecutionOutcome(r.config_id, r.task_id, r.is_success, r.completed_at, r.attempt)
                for r in records  # type: ignore[attr-defined]
            ]
        )

    flusher = RecordFlusher(redis, keys, any_sessions, "w-late", on_recorded=count)
    with caplog.at_level(logging.INFO):
        assert await flusher.flush_once() == 2
    lines = [r for r in caplog.records if "deleted config" in r.getMessage()]
    assert len(lines) == 1 and lines[0].config_id == gone  # type: ignore[attr-defined]
    async with any_sessions() as s:
        assert await s.scalar(select(func.count()).select_from(TaskExecution)) == 0
    assert (await state.get(newer)) is not None
    assert int((await state.get(newer)).runs) == 0  # type: ignore[union-attr]


async def test_a_counter_update_of_a_deleted_config_is_dropped_with_one_line(
    redis: Redis, keys: Keys, caplog: pytest.LogCaptureFixture
) -> None:
    state = ScheduleStateService(redis, keys)
    await state.create(7, {}, actor=CLI)
    await state.delete(7)
    now = datetime.now(UTC)
    outcomes = [ExecutionOutcome(7, f"t{i}", True, now, 1, Trigger.MANUAL) for i in range(3)]
    with caplog.at_level(logging.INFO):
        assert await state.record_executions(outcomes) == 0
    lines = [r for r in caplog.records if "deleted config" in r.getMessage()]
    assert len(lines) == 1 and lines[0].config_id == 7  # type: ignore[attr-defined]
    assert await redis.exists(keys.schedule(7)) == 0  # no state brought back to life
