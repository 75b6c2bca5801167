"""The `taskplane` command as a user runs it: a real process, real databases; failures are
one line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taskplane import auth
from taskplane.db.models import ApiToken
from taskplane.enums import Role
from taskplane.settings import Settings
from tests.cli.runner import Result, cli, run_main, taskplane


def assert_one_line_error(result: Result | subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for needle in needles:
        assert needle in lines[0]


def test_migrate_creates_the_sqlite_database_of_a_fresh_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = taskplane("migrate", cwd=tmp_path)  # the real console command, as a user runs it
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "taskplane.db").exists()
    again = run_main(monkeypatch, "migrate", cwd=tmp_path)  # idempotent
    assert again.returncode == 0, again.stderr
    assert "latest revision" in again.stdout


async def test_token_create_list_revoke_against_the_run_database(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    created = await cli(
        monkeypatch, settings, "token", "create", "ci-bot", "--role", "viewer", "--json"
    )
    assert created.returncode == 0, created.stderr
    body = json.loads(created.stdout)
    assert body["name"] == "ci-bot" and body["role"] == "viewer"
    secret = body["token"]

    async with sessions() as session:
        principal = await auth.authenticate(session, settings, secret)
        row = await session.scalar(select(ApiToken).where(ApiToken.id == body["id"]))
    assert principal is not None and principal.role is Role.VIEWER
    assert row is not None and row.token_hash != secret  # stored as a hash only

    listed = await cli(monkeypatch, settings, "token", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert secret not in listed.stdout
    rows = json.loads(listed.stdout)
    assert [r["name"] for r in rows] == ["ci-bot"] and rows[0]["revoked_at"] is None

    revoked = await cli(monkeypatch, settings, "token", "revoke", str(body["id"]))
    assert revoked.returncode == 0, revoked.stderr
    async with sessions() as session:
        assert await auth.authenticate(session, settings, secret) is None


async def test_revoking_an_unknown_token_is_one_line(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = await cli(monkeypatch, settings, "token", "revoke", "987654")
    assert_one_line_error(result, "token 987654 not found")


def test_a_bad_setting_is_one_line_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run_main(
        monkeypatch, "migrate", env={"TASKPLANE_DATABASE_URL": "mysql://x"}, cwd=tmp_path
    )
    assert_one_line_error(result, "TASKPLANE_DATABASE_URL")


def test_an_unreachable_database_is_one_line_without_the_password(tmp_path: Path) -> None:
    url = "postgresql+asyncpg://someone:hunter2@127.0.0.1:1/nothing"
    result = taskplane("migrate", env={"TASKPLANE_DATABASE_URL": url}, cwd=tmp_path)
    assert_one_line_error(result)
    assert "hunter2" not in result.stderr + result.stdout


def test_an_unknown_command_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    result = run_main(monkeypatch, "serve")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["dev"],
        ["api"],
        ["worker"],
        ["scheduler"],
        ["migrate"],
        ["reconcile"],
        ["token", "create"],
        ["token", "list"],
        ["token", "revoke"],
        ["inspect"],
        ["configs", "list"],
        ["configs", "show"],
        ["run"],
    ],
)
def test_every_documented_command_exists(command: list[str]) -> None:
    from typer.testing import CliRunner

    from taskplane.cli.app import app

    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output


def test_dev_refuses_a_taken_port_in_one_line_before_doing_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_main(monkeypatch, "dev", "--port", str(port), cwd=tmp_path)
    assert_one_line_error(result, f"127.0.0.1:{port}", "--port")
    assert not (tmp_path / "taskplane.db").exists()
