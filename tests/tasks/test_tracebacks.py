"""A failed execution's traceback names files relative to their import root (stdlib,
site-packages, the project), never by the server's absolute paths."""

from __future__ import annotations

import json
import re

import httpx

from taskplane.tasks.result import ExecutionResult
from taskplane.tasks.tracebacks import relative


def _files(trace: str) -> list[str]:
    return re.findall(r'File "([^"]+)"', trace)


def test_frames_in_the_stdlib_site_packages_and_the_project_are_relative() -> None:
    def in_the_project() -> None:
        json.loads("{not json")  # the stdlib raises

    try:
        in_the_project()
    except ValueError as exc:
        stdlib = ExecutionResult.from_exception(exc).traceback
    try:
        httpx.URL("http://[::1")  # site-packages raises
    except httpx.InvalidURL as exc:
        library = ExecutionResult.from_exception(exc).traceback
    assert stdlib is not None and library is not None
    files = _files(stdlib) + _files(library)
    assert files and not [f for f in files if f.startswith("/")], files
    assert "tests/tasks/test_tracebacks.py" in files
    assert "json/decoder.py" in files
    assert any(f.startswith("httpx/") for f in files)
    assert "in in_the_project" in stdlib  # the rest of the frame stays


def test_a_file_outside_every_import_root_keeps_only_its_name() -> None:
    assert relative("/opt/secret-layout/deploy/hook.py") == "hook.py"
    assert relative("<string>") == "<string>"
