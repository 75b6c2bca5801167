"""`taskplane export` and `taskplane apply -f FILE`: schedules as code from the shell (the
real binary for the first apply and export, in-process for the rest), against the run's
PostgreSQL and the test's Redis."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import yaml
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taskplane.settings import Settings
from taskplane.state.keys import Keys
from taskplane.state.schedule_state import ScheduleStateService
from tests.cli.runner import cli, process_env, taskplane

FILE = """\
# what runs, as code
configs:
  - name: nightly
    task_type: echo
    scheduler_type: cron
    schedule_config: {cron_expression: "0 3 * * *", timezone: Europe/Berlin}
    parameters: {message: backup}
    status: active
    note: launch
  - name: new-year
    task_type: echo
    scheduler_type: date
    schedule_config:
      run_date: 2040-01-01T00:00:00+00:00
    parameters: {message: happy}
"""


async def test_apply_then_export_round_trip_through_the_real_binary(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    redis: Redis,
    keys: Keys,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = tmp_path / "schedules.yaml"
    path.write_text(FILE)
    env = process_env(settings)
    applied = await asyncio.to_thread(taskplane, "apply", "-f", str(path), env=env)
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.splitlines() == [
        "created    nightly",
        "created    new-year",
        "status     nightly: inactive -> active (note: launch)",
        "unchanged  0",
    ]
    exported = await asyncio.to_thread(taskplane, "export", env=env)
    assert exported.returncode == 0, exported.stderr
    document = yaml.safe_load(exported.stdout)
    assert document["version"] == 1
    berlin = {"cron_expression": "0 3 * * *", "timezone": "Europe/Berlin"}
    assert [
        (c["name"], c["status"], c["note"], c["schedule_config"]) for c in document["configs"]
    ] == [
        ("new-year", "inactive", None, {"run_date": "2040-01-01T00:00:00+00:00"}),
        ("nightly", "active", "launch", berlin),
    ]
    state = ScheduleStateService(redis, keys)
    states = await state.get_many(await state.all_ids())
    assert sorted(str(s.status) for s in states.values()) == ["active", "inactive"]

    as_json = await cli(monkeypatch, settings, "export", "--format", "json")
    assert json.loads(as_json.stdout) == document

    (tmp_path / "export.yaml").write_text(exported.stdout)
    again = await cli(monkeypatch, settings, "apply", "-f", str(tmp_path / "export.yaml"))
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines() == ["unchanged  2"]

    document["configs"][1]["schedule_config"]["cron_expression"] = "30 3 * * *"
    document["configs"][1]["status"] = "paused"
    del document["configs"][0]
    (tmp_path / "edited.json").write_text(json.dumps(document))
    dry = await cli(
        monkeypatch, settings, "apply", "-f", str(tmp_path / "edited.json"), "--prune", "--dry-run"
    )
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines() == [
        "updated    nightly",
        '  schedule_config: {"cron_expression": "0 3 * * *", "timezone": "Europe/Berlin"} -> '
        '{"cron_expression": "30 3 * * *", "timezone": "Europe/Berlin"}',  # keys sorted
        "status     nightly: active -> paused (note: launch)",
        "deleted    new-year",
        "unchanged  0",
        "dry run: nothing was changed",
    ]
    assert (await cli(monkeypatch, settings, "export")).stdout == exported.stdout


async def test_a_bad_file_names_each_entry_and_changes_nothing(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    redis: Redis,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        FILE
        + """\
  - name: broken
    task_type: echo
    scheduler_type: cron
    schedule_config: {cron_expression: "61 * * * *"}
    parameters: {message: x}
"""
    )
    refused = await cli(monkeypatch, settings, "apply", "-f", str(bad))
    assert refused.returncode == 1
    assert "nothing was changed" in refused.stderr
    assert "configs.2.schedule_config.cron_expression" in refused.stderr
    shape = tmp_path / "shape.json"
    shape.write_text(json.dumps({"configs": [{"name": "x", "priority": 99}]}))
    refused = await cli(monkeypatch, settings, "apply", "-f", str(shape))
    assert refused.returncode == 1
    assert "configs.0.priority" in refused.stderr and "configs.0.task_type" in refused.stderr
    not_a_document = tmp_path / "text.yaml"
    not_a_document.write_text("just: [unclosed")
    refused = await cli(monkeypatch, settings, "apply", "-f", str(not_a_document))
    assert refused.returncode == 1 and "not a JSON or YAML document" in refused.stderr
    listed = json.loads((await cli(monkeypatch, settings, "export", "--format", "json")).stdout)
    assert listed == {"version": 1, "configs": []}
