"""compose.yaml and the Dockerfile cannot run here (no Docker engine), so they are checked
statically: every service command is a real `taskplane` sub-command with options that
parse, and every variable they use is a real setting."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from taskplane.settings import Settings
from tests.deploy.command_lines import parse_cli

ROOT = Path(__file__).resolve().parents[2]
SETTING_NAMES = {f"TASKPLANE_{name.upper()}" for name in Settings.model_fields}
TASKPLANE_VAR = re.compile(r"\bTASKPLANE_[A-Z0-9_]+")
INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-?+][^}]*)?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return data


def dockerfile_instruction(name: str) -> list[str]:
    """The JSON-form argument of the last ENTRYPOINT / CMD of the Dockerfile."""
    found: list[str] = []
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.startswith(f"{name} "):
            found = yaml.safe_load(line[len(name) + 1 :])
    return found


def service_argv(service: dict[str, Any]) -> list[str]:
    entrypoint = service.get("entrypoint", dockerfile_instruction("ENTRYPOINT"))
    command = service.get("command", dockerfile_instruction("CMD"))
    if isinstance(entrypoint, str):
        entrypoint = shlex.split(entrypoint)
    if isinstance(command, str):
        command = shlex.split(command)
    return [*entrypoint, *command]


def taskplane_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: svc for name, svc in compose["services"].items() if "build" in svc}


def test_compose_has_the_services_the_deployment_needs(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"postgres", "redis", "migrate", "api", "worker", "scheduler"} <= set(services)
    assert services["api"]["ports"] == ["8000:8000"]
    assert services["worker"]["deploy"]["replicas"] == 2
    assert services["scheduler"]["deploy"]["replicas"] == 2
    assert services["migrate"]["restart"] == "no"
    redis_command = " ".join(services["redis"]["command"])
    assert "--appendonly yes" in redis_command
    for name in ("postgres", "redis"):
        assert "healthcheck" in services[name], name
        assert services[name]["volumes"], name
    for name in ("api", "worker", "scheduler"):
        deps = services[name]["depends_on"]
        assert deps["migrate"]["condition"] == "service_completed_successfully"
        assert deps["redis"]["condition"] == "service_healthy"
        assert any(
            (e["path"] if isinstance(e, dict) else e) == ".env" for e in services[name]["env_file"]
        )


def test_every_service_command_is_a_real_taskplane_subcommand(compose: dict[str, Any]) -> None:
    services = taskplane_services(compose)
    assert services
    seen = {}
    for name, service in services.items():
        context = parse_cli(service_argv(service))
        seen[name] = context.command.name
    assert seen == {
        "migrate": "migrate",
        "api": "api",
        "worker": "worker",
        "scheduler": "scheduler",
    }


def test_the_checker_refuses_an_unknown_subcommand_or_option() -> None:
    with pytest.raises(AssertionError, match="not a taskplane sub-command"):
        parse_cli(["taskplane", "serve"])
    with pytest.raises(Exception, match="No such option"):
        parse_cli(["taskplane", "worker", "--threads", "3"])


def test_every_taskplane_variable_in_compose_is_a_real_setting(compose: dict[str, Any]) -> None:
    text = (ROOT / "compose.yaml").read_text()
    used = set(TASKPLANE_VAR.findall(text))
    for service in taskplane_services(compose).values():
        used |= set(service.get("environment", {}))
    used = {name for name in used if name.startswith("TASKPLANE_")}
    assert used, "compose.yaml configures taskplane through TASKPLANE_ settings"
    assert used <= SETTING_NAMES, sorted(used - SETTING_NAMES)


def test_every_interpolated_variable_is_a_setting_or_a_postgres_one() -> None:
    text = (ROOT / "compose.yaml").read_text()
    names = set(INTERPOLATION.findall(text))
    others = {n for n in names if not n.startswith("TASKPLANE_")}
    assert names - others <= SETTING_NAMES
    assert others <= {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"}, others


def test_the_database_url_in_compose_is_accepted_by_settings(compose: dict[str, Any]) -> None:
    env = compose["services"]["api"]["environment"]
    url = INTERPOLATION.sub(
        lambda m: m.group(0).split(":-")[-1].rstrip("}"), env["TASKPLANE_DATABASE_URL"]
    )
    settings = Settings(_env_file=None, database_url=url, redis_url=env["TASKPLANE_REDIS_URL"])
    assert not settings.is_sqlite


def test_dockerfile_is_multi_stage_with_uv_and_a_non_root_user() -> None:
    text = (ROOT / "Dockerfile").read_text()
    stages = [line for line in text.splitlines() if line.startswith("FROM ")]
    assert len(stages) >= 2
    assert "uv sync --frozen --no-dev" in text
    users = [line.split()[1] for line in text.splitlines() if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    assert dockerfile_instruction("ENTRYPOINT") == ["taskplane"]
    parse_cli(["taskplane", *dockerfile_instruction("CMD")])
    for path in ("pyproject.toml", "uv.lock", "alembic.ini", "alembic", "backend"):
        assert re.search(rf"^COPY .*\b{re.escape(path)}\b", text, re.M), path
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".venv" in ignored and ".env" in ignored
