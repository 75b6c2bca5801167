"""`taskplane schedules pause ID --until ISO` and `taskplane schedules backfill ID --start
--end [--dry-run]`, run as the real command (a `python -m taskplane.cli` process)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taskplane.actors import CLI
from taskplane.enums import SchedulerType, ScheduleStatus
from taskplane.settings import Settings
from taskplane.state.keys import Keys
from taskplane.state.schedule_state import ScheduleStateService
from tests.cli.rows import echo_config
from tests.cli.runner import process_env, taskplane
from tests.support import stream_entries


async def run(settings: Settings, tmp_path: Path, *args: str) -> tuple[int, str, str]:
    done = await asyncio.to_thread(taskplane, *args, env=process_env(settings), cwd=tmp_path)
    return done.returncode, done.stdout, done.stderr


async def test_pause_until_from_the_command(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    redis: Redis,
    keys: Keys,
    tmp_path: Path,
) -> None:
    state = ScheduleStateService(redis, keys)
    cid = await echo_config(sessions, "frozen", SchedulerType.INTERVAL, {"hours": 1})
    await state.create(cid, {}, actor=CLI)
    code, _, err = await run(settings, tmp_path, "schedules", "start", str(cid))
    assert code == 0, err
    until = (datetime.now(UTC) + timedelta(hours=3)).replace(microsecond=0)
    code, out, err = await run(
        settings, tmp_path, "schedules", "pause", str(cid), "--until", until.isoformat()
    )
    assert code == 0, err
    assert f"config {cid}: paused (paused until " in out
    stored = await state.get(cid)
    assert stored is not None and stored.status is ScheduleStatus.PAUSED
    assert stored.paused_until == until

    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    code, _, err = await run(settings, tmp_path, "schedules", "pause", str(cid), "--until", past)
    assert code == 1 and "until: must be in the future" in err
    code, _, err = await run(settings, tmp_path, "schedules", "pause", str(cid), "--until", "soon")
    assert code == 1 and "--until: not an ISO time" in err
    code, _, err = await run(settings, tmp_path, "schedules", "resume", str(cid), "--until", past)
    assert code == 2  # usage: only pause takes --until
    assert (await state.get(cid)).paused_until == until  # type: ignore[union-attr]


async def test_backfill_from_the_command(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    redis: Redis,
    keys: Keys,
    tmp_path: Path,
) -> None:
    state = ScheduleStateService(redis, keys)
    cid = await echo_config(
        sessions, "hourly", SchedulerType.CRON, {"cron_expression": "0 * * * *"}
    )
    await state.create(cid, {}, actor=CLI)
    top = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    window = ["--start", (top - timedelta(hours=2)).isoformat(), "--end", top.isoformat()]
    code, out, err = await run(
        settings, tmp_path, "schedules", "backfill", str(cid), *window, "--dry-run", "--json"
    )
    assert code == 0, err
    dry = json.loads(out)
    assert len(dry["due_times"]) == 2 and dry["sent"] == dry["due_times"] and dry["dry_run"]
    assert await stream_entries(redis, keys.broker_stream("default")) == []

    code, out, err = await run(settings, tmp_path, "schedules", "backfill", str(cid), *window)
    assert code == 0, err
    assert f"config {cid}: 2 due times, 0 already ran, sent 2" in out
    assert len(await stream_entries(redis, keys.broker_stream("default"))) == 2

    code, out, err = await run(settings, tmp_path, "schedules", "backfill", str(cid), *window)
    assert code == 0, err
    assert f"config {cid}: 2 due times, 2 already ran, sent 0" in out

    future = ["--start", top.isoformat(), "--end", (top + timedelta(hours=2)).isoformat()]
    code, _, err = await run(settings, tmp_path, "schedules", "backfill", str(cid), *future)
    assert code == 1 and "end: must not be in the future" in err
