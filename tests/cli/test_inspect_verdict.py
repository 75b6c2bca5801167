"""`taskplane inspect ID` answers "why didn't it run?" first: the explain verdict, the next
fires, the latest decisions, the counters and the last error, from real state."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taskplane.actors import CLI
from taskplane.db import configs, executions
from taskplane.db.executions import ExecutionRecord
from taskplane.enums import SchedulerType, Trigger
from taskplane.resources import Resources
from taskplane.services import open_services
from taskplane.settings import Settings
from tests.cli.runner import cli


async def test_inspect_id_prints_the_verdict_first(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    resources: Resources,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with sessions() as session, session.begin():
        row = await configs.create(
            session,
            name="hourly-report",
            task_type="echo",
            scheduler_type=SchedulerType.INTERVAL,
            schedule_config={"hours": 1},
            parameters={"message": "hi"},
        )
        await executions.insert_many(
            session,
            [
                ExecutionRecord(
                    config_id=row.id,
                    task_id=f"{row.id}-1",
                    task_type="echo",
                    trigger=Trigger.SCHEDULED,
                    is_success=False,
                    attempt=1,
                    started_at=datetime.now(UTC),
                    completed_at=datetime.now(UTC),
                    duration_seconds=0.1,
                    error_message="ConnectionError: smtp.example.com refused",
                )
            ],
        )
    scheduler = open_services(resources).scheduler
    await scheduler.on_created(row, actor=CLI)
    await scheduler.start(row, actor=CLI)
    await scheduler.pause(row, note="mail server migration", actor=CLI)

    shown = await cli(monkeypatch, settings, "inspect", str(row.id))
    assert shown.returncode == 0, shown.stderr
    stack, *lines = shown.stdout.splitlines()
    assert stack.startswith("stack: redis ") and stack.endswith("(configured)")
    assert lines[0].startswith(f"config {row.id} (hourly-report)")
    assert lines[1].startswith("verdict: paused since ")
    assert "'mail server migration'; nothing fires until it is resumed" in lines[1]
    assert lines[2] == "next fires: none"
    text = shown.stdout
    assert "last decisions" in text
    assert "fired" in text  # the start's immediate run
    assert "last error (" in text and "smtp.example.com refused" in text
    assert text.index("verdict:") < text.index("history (")  # first, then the Redis picture

    as_json = await cli(monkeypatch, settings, "inspect", str(row.id), "--json")
    data = json.loads(as_json.stdout)
    assert data["explain"]["verdict"].startswith("paused since ")
    assert data["explain"]["decisions"][0]["decision"] == "fired"
    assert data["explain"]["last_error"]["error"] == "ConnectionError: smtp.example.com refused"
