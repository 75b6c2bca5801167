"""A measured child process writes its output to its own log file, in a directory the bench
creates itself (logs are never committed, so a fresh checkout has none)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bench import procs


def test_a_process_log_lands_in_a_directory_the_bench_creates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log_dir = tmp_path / "not" / "there" / "yet"
    monkeypatch.setattr(procs, "LOG_DIR", log_dir)
    proc = procs.Proc("echo", procs.python("-c", "print('hello from the child')"), {}).start()
    try:
        deadline = time.monotonic() + 30
        while proc.alive():
            assert time.monotonic() < deadline, "the child did not exit"
            time.sleep(0.05)
    finally:
        proc.stop()
    assert proc.log_path == log_dir / "echo.log"
    assert proc.tail() == "hello from the child"
