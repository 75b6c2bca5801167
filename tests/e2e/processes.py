"""Real taskplane processes for the end-to-end tests: started with TASKPLANE_* settings in
their environment, always stopped (and their process group killed) afterwards."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from taskplane.embedded_redis import free_port
from taskplane.settings import Settings
from tests.support import eventually


def settings_env(settings: Settings, **extra: str) -> dict[str, str]:
    """A clean environment (no developer TASKPLANE_*) carrying the test's settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKPLANE_")}
    admin = settings.admin_token.get_secret_value() if settings.admin_token else ""
    env.update(
        {
            "TASKPLANE_DATABASE_URL": settings.database_url.get_secret_value(),
            "TASKPLANE_REDIS_URL": settings.redis_url.get_secret_value(),
            "TASKPLANE_REDIS_PREFIX": settings.redis_prefix,
            "TASKPLANE_ADMIN_TOKEN": admin,
            "TASKPLANE_HEARTBEAT_INTERVAL_SECONDS": str(settings.heartbeat_interval_seconds),
            "PYTHONUNBUFFERED": "1",
            **extra,
        }
    )
    return env


def start(
    args: list[str], env: dict[str, str], log: Path, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    """`python -m taskplane.cli ARGS` in its own process group, output to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "taskplane.cli", *args],
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            process_group=0,
        )


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, within: float = 30) -> int:
    """Signal the process (not its group) and wait; SIGKILL the group if it hangs."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=within)
        except subprocess.TimeoutExpired:
            kill_group(proc)
            proc.wait(timeout=10)
    return proc.returncode


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


@contextlib.contextmanager
def running(*procs: subprocess.Popen[bytes]) -> Iterator[None]:
    try:
        yield
    finally:
        for proc in procs:
            stop(proc)
        for proc in procs:
            kill_group(proc)


def children_of(parent_pid: int) -> dict[int, str]:
    """Live processes started by a supervisor: they carry `--parent-pid PID` (argv)."""
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        words = [a.decode(errors="replace") for a in argv if a]
        if state == "Z":
            continue
        for index, word in enumerate(words[:-1]):
            if word == "--parent-pid" and words[index + 1] == str(parent_pid):
                found[int(entry.name)] = words[3] if len(words) > 3 else ""
    return found


def pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_until(check: object, within: float, what: str, log: Path | None = None) -> None:
    """Poll a sync check with a deadline (these tests drive processes, not a loop)."""
    deadline = time.monotonic() + within
    while True:
        if check():  # type: ignore[operator]
            return
        if time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
            raise AssertionError(f"{what}: not true within {within}s\n{tail}")
        time.sleep(0.1)


__all__ = ["free_port"]


async def wait_healthy(
    http: httpx.AsyncClient, within: float = 90, *, every_part: bool = True
) -> None:
    """Until the api behind ``http`` (based at ``/api/v1``) answers its health check, saying
    every part is ``ok`` (``every_part``; else any answer: a stack run without a scheduler
    or a worker on purpose is ``degraded``); a refused connection counts as not yet (the
    process may still be starting)."""

    async def healthy() -> bool:
        try:
            response = await http.get("/system/health")
        except httpx.HTTPError:
            return False
        if not every_part:
            return response.status_code in (200, 503)
        return response.status_code == 200 and response.json()["status"] == "ok"

    await eventually(healthy, within=within)
