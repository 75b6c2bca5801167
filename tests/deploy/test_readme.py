"""The README stays true: it starts with the two commands, its task-type example loads and
runs, and every `taskplane ...` command it shows is a real one."""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

import pytest

from taskplane.settings import Settings
from taskplane.tasks.registry import load_registry
from tests.deploy.command_lines import parse_cli

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_the_readme_starts_with_make_dev_and_make_test() -> None:
    first_block = README.split("```bash", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in first_block.strip().splitlines()]
    assert commands == ["make dev", "make test"]
    makefile = (ROOT / "Makefile").read_text()
    assert "taskplane dev" in makefile and "pytest" in makefile


def test_the_sections_the_readme_promises_are_there() -> None:
    headings = re.findall(r"^## (.+)$", README, re.M)
    for needed in (
        "Architecture",
        "Writing a task type",
        "The API",
        "The dashboard",
        "Operations",
        "Deployment",
        "Configuration",
        "Layout",
        "Tests",
    ):
        assert needed in headings, needed


async def test_the_task_type_example_loads_validates_and_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    example = next(
        b for b in re.findall(r"```python\n(.*?)```", README, re.S) if "myapp/tasks.py" in b
    )
    package = tmp_path / "myapp"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "tasks.py").write_text(example)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "myapp", raising=False)
    monkeypatch.delitem(sys.modules, "myapp.tasks", raising=False)

    registry = load_registry(Settings(_env_file=None, task_modules="myapp.tasks"))
    greet = registry.get("greet")
    assert greet.max_retries == 2 and greet.timeout_seconds == 30
    assert registry.validate("greet", {"name": "Ada", "shout": True}) == {
        "name": "Ada",
        "shout": True,
    }
    params = greet.parse({"name": "Ada", "shout": True})
    result = await greet.fn(params)
    assert result.success and result.data == {"greeting": "HELLO, ADA!"}
    assert "name" in greet.parameters_schema["properties"]


def test_every_taskplane_command_in_the_readme_is_real() -> None:
    lines = re.findall(r"`(taskplane [^`]+)`", README)
    lines += [
        line.strip()
        for block in re.findall(r"```bash\n(.*?)```", README, re.S)
        for line in block.splitlines()
        if line.strip().startswith("taskplane ")
    ]
    checked = 0
    for line in lines:
        argv = shlex.split(line)
        if any(a in ("...", "ID") or a.startswith("<") for a in argv):
            argv = [a if a not in ("ID",) else "1" for a in argv if a != "..."]
        parse_cli(argv)
        checked += 1
    assert checked >= 10


def test_the_settings_the_readme_names_exist() -> None:
    names = set(re.findall(r"\bTASKPLANE_[A-Z_]+\b", README))
    real = {f"TASKPLANE_{n.upper()}" for n in Settings.model_fields}
    tests_only = {
        "TASKPLANE_TEST_DATABASE_URL",
        "TASKPLANE_TEST_REDIS_URL",
        "TASKPLANE_TEST_REQUIRE_SERVICES",
    }
    assert names - tests_only <= real, sorted(names - tests_only - real)
