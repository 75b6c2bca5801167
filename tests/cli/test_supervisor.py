"""The supervisor of `taskplane dev` / `worker --processes`: restarts a child that dies,
stops every child (and its group) on request, and a child outlives no supervisor."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

from taskplane.cli.supervisor import Supervisor
from tests.e2e.processes import pid_alive, wait_until

SLEEPER = [sys.executable, "-c", "import time; time.sleep(600)"]


def test_a_dead_child_is_reported_and_restarted_and_stop_ends_all() -> None:
    reports: list[str] = []
    supervisor = Supervisor(report=reports.append, stop_timeout_seconds=10)
    supervisor.add("one", SLEEPER, dict(os.environ))
    supervisor.add("two", SLEEPER, dict(os.environ))
    supervisor.start()
    try:
        first = supervisor.pids()
        assert len(first) == 2
        os.kill(first[0], signal.SIGKILL)

        def restarted() -> bool:
            supervisor.check()
            pids = supervisor.pids()
            return len(pids) == 2 and first[0] not in pids

        wait_until(restarted, 30, "child restarted")
        assert any("one" in r and "exited with code -9" in r for r in reports), reports
        assert any(r == "restarting one" for r in reports), reports
        live = supervisor.pids()
    finally:
        supervisor.stop()
    assert supervisor.pids() == []
    assert [pid for pid in live if pid_alive(pid)] == []


def test_stop_runs_in_the_supervisor_loop_when_the_event_is_set() -> None:
    supervisor = Supervisor(report=lambda _: None)
    supervisor.add("one", SLEEPER, dict(os.environ))
    supervisor.start()
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    try:
        supervisor.run(stop, poll_seconds=0.05)
    finally:
        supervisor.stop()
    assert supervisor.pids() == []


def test_a_watched_child_stops_when_its_supervisor_is_killed(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    child_code = textwrap.dedent(
        f"""
        import os, signal, sys, time
        from taskplane.cli.supervisor import watch_parent
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        watch_parent(int(sys.argv[1]), poll_seconds=0.1)
        open({str(pid_file)!r}, "w").write(str(os.getpid()))
        time.sleep(600)
        """
    )
    parent_code = textwrap.dedent(
        f"""
        import os, subprocess, sys, time
        subprocess.Popen([sys.executable, "-c", {child_code!r}, str(os.getpid())])
        time.sleep(600)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", parent_code], process_group=0)
    try:
        wait_until(lambda: pid_file.exists() and pid_file.read_text(), 60, "child started")
        child = int(pid_file.read_text())
        assert pid_alive(child)
        parent.kill()  # SIGKILL: the supervisor gets no chance to stop anything
        parent.wait(timeout=10)
        wait_until(lambda: not pid_alive(child), 30, "orphaned child stopped itself")
    finally:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(parent.pid, signal.SIGKILL)  # the group: parent and child, if left
