"""One entry per process: `taskplane worker|scheduler` and `python -m taskplane.worker|
scheduling` run the same start-up (logging from settings, /metrics on the metrics host, then
the process), so neither way of starting one behaves differently."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import psutil  # type: ignore[import-untyped]
import pytest

from taskplane.settings import Settings
from tests.e2e.processes import free_port, kill_group, settings_env, stop, wait_until

pytestmark = pytest.mark.slow

ENTRIES = {
    "taskplane worker": (["-m", "taskplane.cli", "worker"], "worker"),
    "python -m taskplane.worker": (["-m", "taskplane.worker"], "worker"),
    "taskplane scheduler": (["-m", "taskplane.cli", "scheduler"], "scheduler"),
    "python -m taskplane.scheduling": (["-m", "taskplane.scheduling"], "scheduler"),
}


def _listening_on(port: int) -> set[str]:
    return {
        c.laddr.ip
        for c in psutil.net_connections(kind="tcp")
        if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port
    }


def _json_lines(log: Path) -> list[dict[str, object]]:
    found = []
    for line in log.read_text(errors="replace").splitlines():
        try:
            found.append(json.loads(line))
        except ValueError:
            continue
    return found


@pytest.mark.parametrize("entry", list(ENTRIES))
def test_every_entry_sets_up_logging_and_loopback_metrics_from_settings(
    entry: str, settings: Settings, tmp_path: Path
) -> None:
    argv, component = ENTRIES[entry]
    port = free_port()
    env = settings_env(
        settings,
        TASKPLANE_LOG_FORMAT="json",
        TASKPLANE_LOG_LEVEL="INFO",
        TASKPLANE_METRICS_HOST="127.0.0.1",
        **{f"TASKPLANE_{component.upper()}_METRICS_PORT": str(port)},
    )
    log = tmp_path / "process.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, *argv],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            process_group=0,
        )
    try:
        wait_until(lambda: _listening_on(port), 60, "/metrics listening", log)
        assert _listening_on(port) == {"127.0.0.1"}  # the metrics host, never every address
        started = f"{component} started" if component == "worker" else "scheduler starting"
        wait_until(
            lambda: any(line.get("message") == started for line in _json_lines(log)),
            60,
            "a JSON start line",
            log,
        )
        served = [line for line in _json_lines(log) if line.get("message") == "metrics served"]
        assert [(s["component"], s["port"]) for s in served] == [(component, port)]
        assert stop(proc, signal.SIGTERM, within=60) == 0, log.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            stop(proc, signal.SIGKILL)
        kill_group(proc)
