"""The `taskplane` command's writes say `cli`: schedule control and runs (history events and
audit entries alike), and token changes, through the real command."""

from __future__ import annotations

import asyncio
import json

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taskplane.actors import CLI
from taskplane.enums import SchedulerType
from taskplane.settings import Settings
from taskplane.state.audit import AuditLog
from taskplane.state.audit_pages import AuditQuery
from taskplane.state.keys import Keys
from taskplane.state.schedule_state import ScheduleStateService
from tests.cli.rows import echo_config
from tests.cli.runner import cli, process_env, taskplane


async def test_schedule_control_and_runs_from_the_cli_name_cli(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    redis: Redis,
    keys: Keys,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state = ScheduleStateService(redis, keys)
    cid = await echo_config(sessions, "nightly", SchedulerType.INTERVAL, {"hours": 1})
    await state.create(cid, {"name": "nightly"}, actor=CLI)
    started = await cli(monkeypatch, settings, "schedules", "start", str(cid), "--note", "go")
    assert started.returncode == 0, started.stderr
    ran = await cli(monkeypatch, settings, "run", str(cid))
    assert ran.returncode == 0, ran.stderr
    events, _ = await state.history(cid)
    assert {(e.event, e.actor) for e in events} >= {
        ("started", "cli"),
        ("fired", "cli"),
        ("run_requested", "cli"),
    }
    page = await AuditLog(redis, keys).page(AuditQuery(config_id=cid))
    assert [(r.action, r.actor) for r in page.items] == [
        ("run_requested", "cli"),
        ("started", "cli"),
        ("created", "cli"),
    ]
    assert page.items[1].note == "go" and page.items[1].config_name == "nightly"


async def test_token_commands_are_audited_as_cli(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],  # the run's database, wiped after
    redis: Redis,
    keys: Keys,
) -> None:
    env = process_env(settings)
    made = await asyncio.to_thread(taskplane, "token", "create", "robot", "--json", env=env)
    assert made.returncode == 0, made.stderr
    token_id = json.loads(made.stdout)["id"]
    revoked = await asyncio.to_thread(taskplane, "token", "revoke", str(token_id), env=env)
    assert revoked.returncode == 0, revoked.stderr
    page = await AuditLog(redis, keys).page(AuditQuery(actor="cli"))
    assert [(r.action, r.details) for r in page.items] == [
        ("token_revoked", {"token_id": token_id, "name": "robot", "role": "viewer"}),
        ("token_created", {"token_id": token_id, "name": "robot", "role": "viewer"}),
    ]
    assert json.loads(made.stdout)["token"] not in str(page.items)
