"""Supervised child processes for `taskplane dev` and `taskplane worker --processes N`.

Each child runs in its own process group, so a terminal's Ctrl-C reaches only the
supervisor, which then stops the children in order (SIGTERM to the group, SIGKILL after a
grace period). A child that dies on its own is reported and restarted with a backoff.
Children are told the supervisor's pid (``--parent-pid``) and stop themselves if it
disappears, so even a SIGKILL of the supervisor leaves nothing behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

RESTART_BACKOFF_SECONDS = (0.5, 1.0, 2.0, 5.0, 10.0)
STABLE_AFTER_SECONDS = 30.0


def child_command(*args: str) -> list[str]:
    """argv of a taskplane sub-command run by this interpreter, watched by this process."""
    return [sys.executable, "-m", "taskplane.cli", *args, "--parent-pid", str(os.getpid())]


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restarts: int = 0
    restart_at: float | None = None


@dataclass
class Supervisor:
    """Starts children, restarts the ones that die, stops them all on request."""

    report: Callable[[str], None]
    stop_timeout_seconds: float = 10.0
    children: list[Child] = field(default_factory=list)
    _stopping: bool = False

    def add(self, name: str, argv: list[str], env: Mapping[str, str]) -> Child:
        child = Child(name=name, argv=list(argv), env=dict(env))
        self.children.append(child)
        return child

    def start(self) -> None:
        for child in self.children:
            self._spawn(child)

    def _spawn(self, child: Child) -> None:
        child.process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            child.argv,
            env=child.env,
            stdin=subprocess.DEVNULL,
            process_group=0,
        )
        child.started_at = time.monotonic()
        child.restart_at = None

    def pids(self) -> list[int]:
        return [c.process.pid for c in self.children if c.process and c.process.poll() is None]

    def check(self) -> None:
        """Report and (after a backoff) restart any child that exited on its own."""
        if self._stopping:
            return
        now = time.monotonic()
        for child in self.children:
            proc = child.process
            if proc is None:
                continue
            if child.restart_at is not None:
                if now >= child.restart_at:
                    self.report(f"restarting {child.name}")
                    self._spawn(child)
                continue
            code = proc.poll()
            if code is None:
                continue
            if now - child.started_at > STABLE_AFTER_SECONDS:
                child.restarts = 0
            delay = RESTART_BACKOFF_SECONDS[min(child.restarts, len(RESTART_BACKOFF_SECONDS) - 1)]
            child.restarts += 1
            child.restart_at = now + delay
            self.report(
                f"{child.name} (pid {proc.pid}) exited with code {code}; restart in {delay}s"
            )

    def run(
        self,
        stop: threading.Event,
        poll_seconds: float = 0.2,
        also: Callable[[], None] | None = None,
    ) -> None:
        """Check the children until ``stop``; ``also`` is checked first on every round
        (`taskplane dev`: the embedded Redis the children depend on)."""
        while not stop.is_set():
            if also is not None:
                also()
            self.check()
            stop.wait(poll_seconds)

    def stop(self) -> None:
        """SIGTERM every child's group, wait for all, SIGKILL what is left after the grace."""
        self._stopping = True
        live = [c for c in self.children if c.process and c.process.poll() is None]
        for child in reversed(live):
            _signal_group(child, signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout_seconds
        for child in live:
            assert child.process is not None
            try:
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.report(f"{child.name} did not stop in time; killing it")
                _signal_group(child, signal.SIGKILL)
                child.process.wait(timeout=10)
        for child in self.children:  # grandchildren (uvicorn workers) share the group
            _signal_group(child, signal.SIGKILL)


def _signal_group(child: Child, sig: signal.Signals) -> None:
    if child.process is None:
        return
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(child.process.pid, sig)


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """An event set by SIGINT / SIGTERM (the handlers are restored on exit)."""
    stop = threading.Event()

    def _handler(signum: int, _frame: object) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def watch_parent(parent_pid: int | None, poll_seconds: float = 1.0) -> None:
    """In a supervised child: stop this process (SIGTERM to itself, then exit) when the
    supervisor is gone, so no child outlives it."""
    if not parent_pid:
        return

    def _watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(poll_seconds)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(15)
        os._exit(1)

    threading.Thread(target=_watch, name="parent-watch", daemon=True).start()
