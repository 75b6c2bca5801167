from __future__ import annotations

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
