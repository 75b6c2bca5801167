"""Run the `taskplane` command in-process (fast) or as a real process (what a user runs)."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest

from taskplane.settings import Settings


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def process_env(settings: Settings) -> dict[str, str]:
    return {
        "TASKPLANE_DATABASE_URL": settings.database_url.get_secret_value(),
        "TASKPLANE_REDIS_URL": settings.redis_url.get_secret_value(),
        "TASKPLANE_REDIS_PREFIX": settings.redis_prefix,
    }


def taskplane(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """A real `python -m taskplane.cli` process with only the given TASKPLANE_ settings."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("TASKPLANE_")}
    return subprocess.run(
        [sys.executable, "-m", "taskplane.cli", *args],
        env={**base, "COLUMNS": "200", **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


@contextmanager
def _columns_as_set() -> Iterator[None]:
    """The CLI's consoles as wide as COLUMNS says now. A rich console made while COLUMNS was
    set keeps that width (a pytest-xdist worker starts with COLUMNS=80, so whichever test
    imports taskplane.cli first would fix 80); a plain run has no COLUMNS at import."""
    from taskplane.cli import output

    consoles = (output.console, output.err_console)
    kept = [c._width for c in consoles]
    columns = os.environ.get("COLUMNS", "")
    for c in consoles:
        c._width = int(columns) if columns.isdigit() else None
    try:
        yield
    finally:
        for c, width in zip(consoles, kept, strict=True):
            c._width = width


def _main(argv: list[str]) -> Result:
    from taskplane.cli.app import main

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with redirect_stdout(out), redirect_stderr(err), _columns_as_set():
        try:
            main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return Result(code, out.getvalue(), err.getvalue())


async def cli(monkeypatch: pytest.MonkeyPatch, settings: Settings, *args: str) -> Result:
    """`taskplane ARGS` in this process (in a thread: commands run their own event loop),
    configured by the test's settings through the environment."""
    for name, value in process_env(settings).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("COLUMNS", "200")
    return await asyncio.to_thread(_main, list(args))


def run_main(
    monkeypatch: pytest.MonkeyPatch,
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> Result:
    """`taskplane ARGS` in this process, from a sync test (no event loop running)."""
    for name, value in (env or {}).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("COLUMNS", "200")
    if cwd is not None:
        monkeypatch.chdir(cwd)
    return _main(list(args))
