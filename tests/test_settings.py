from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from taskplane.settings import DEFAULT_DATABASE_URL, SettingsError, load_settings


def test_defaults_are_the_embedded_ones() -> None:
    s = load_settings(_env_file=None)
    assert s.database_url.get_secret_value() == DEFAULT_DATABASE_URL
    assert s.redis_prefix == "taskplane:"
    assert s.is_sqlite


@pytest.mark.parametrize(
    ("env", "value", "named"),
    [
        ("TASKPLANE_DATABASE_URL", "mysql://x", "TASKPLANE_DATABASE_URL"),
        ("TASKPLANE_REDIS_URL", "http://x", "TASKPLANE_REDIS_URL"),
        ("TASKPLANE_HISTORY_MAX", "0", "TASKPLANE_HISTORY_MAX"),
        ("TASKPLANE_HISTORY_MAX", "many", "TASKPLANE_HISTORY_MAX"),
        ("TASKPLANE_LOG_LEVEL", "LOUD", "TASKPLANE_LOG_LEVEL"),
        ("TASKPLANE_REDIS_PREFIX", "a b", "TASKPLANE_REDIS_PREFIX"),
    ],
)
def test_bad_value_fails_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, named: str
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(SettingsError, match=named):
        load_settings(_env_file=None)


def test_env_and_dotenv_are_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("TASKPLANE_REDIS_PREFIX=fromfile:\nTASKPLANE_HISTORY_MAX=7\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TASKPLANE_HISTORY_MAX", "9")
    monkeypatch.setenv("TASKPLANE_TASK_MODULES", "a.b, c.d")
    s = load_settings()
    assert s.redis_prefix == "fromfile:"
    assert s.history_max == 9  # the environment wins over .env
    assert s.task_modules == ["a.b", "c.d"]


def test_env_example_documents_every_setting() -> None:
    from pathlib import Path

    from taskplane.settings import Settings

    text = (Path(__file__).parents[1] / ".env.example").read_text()
    for name in Settings.model_fields:
        assert f"TASKPLANE_{name.upper()}=" in text, f"TASKPLANE_{name.upper()} not in .env.example"


def test_secrets_are_not_shown_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASKPLANE_ADMIN_TOKEN", "supersecret-token")
    monkeypatch.setenv("TASKPLANE_DATABASE_URL", "postgresql+asyncpg://u:pw123@h/db")
    s = load_settings(_env_file=None)
    assert "supersecret" not in repr(s) and "pw123" not in repr(s)


def test_a_copied_env_example_sets_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # `cp .env.example .env` unchanged keeps `make dev` on its embedded SQLite and Redis:
    # dev uses TASKPLANE_REDIS_URL when it is set at all, so nothing may count as set
    (tmp_path / ".env").write_text((Path(__file__).parents[1] / ".env.example").read_text())
    monkeypatch.chdir(tmp_path)
    assert load_settings().model_fields_set == set()


def test_env_example_names_postgres_password_and_one_postgres_version() -> None:
    root = Path(__file__).parents[1]
    assert "POSTGRES_PASSWORD=" in (root / ".env.example").read_text()
    compose = (root / "compose.yaml").read_text()
    readme = (root / "README.md").read_text()
    [shipped] = re.findall(r"image: postgres:(\d+)", compose)
    named = set(re.findall(r"PostgreSQL \(tested with (\d+)\)", readme))
    assert named == {shipped}


def test_an_unknown_setting_is_one_warning_naming_the_closest(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / ".env").write_text("TASKPLANE_HISTORY_MAXX=5\nOTHER_THING=1\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TASKPLANE_REDIS_ULR", "redis://elsewhere:6379/0")
    monkeypatch.setenv("TASKPLANE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")  # the suite's
    with caplog.at_level(logging.WARNING, logger="taskplane.settings"):
        settings = load_settings()
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "TASKPLANE_HISTORY_MAXX (in the .env) is not a taskplane setting and is ignored; "
        "did you mean TASKPLANE_HISTORY_MAX?",
        "TASKPLANE_REDIS_ULR (in the environment) is not a taskplane setting and is ignored; "
        "did you mean TASKPLANE_REDIS_URL?",
    ]
    assert settings.history_max == 200


def test_an_unknown_setting_is_reported_by_a_real_process(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKPLANE_")}
    env["TASKPLANE_REDIS_CLUSTER_NODES"] = "redis://x"
    done = subprocess.run(
        [sys.executable, "-m", "taskplane.cli", "configs", "list"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    warnings = [
        line for line in done.stderr.splitlines() if "TASKPLANE_REDIS_CLUSTER_NODES" in line
    ]
    assert len(warnings) == 1 and "did you mean TASKPLANE_" in warnings[0], done.stderr
