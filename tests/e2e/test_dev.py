"""`taskplane dev --example` on a machine where nothing is configured: SQLite, embedded
Redis, a generated admin token, the example configs; a config created and run over HTTP;
a dead child is restarted; SIGINT stops everything and leaves no child process behind."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import httpx
import pytest

from tests.e2e.processes import (
    children_of,
    free_port,
    kill_group,
    pid_alive,
    start,
    stop,
    wait_until,
)
from tests.support import eventually

pytestmark = pytest.mark.slow


async def test_dev_runs_everything_and_sigint_leaves_nothing_behind(tmp_path: Path) -> None:
    port = free_port()
    # nothing configured: no TASKPLANE_* at all but the port (8000 may be taken here)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKPLANE_")}
    env["TASKPLANE_API_PORT"] = str(port)
    env["PYTHONUNBUFFERED"] = "1"
    log = tmp_path / "dev.log"
    dev = start(["dev", "--example"], env, log, cwd=tmp_path)
    seen: set[int] = set()
    try:
        wait_until(lambda: "admin token" in log.read_text(errors="replace"), 120, "banner", log)
        text = log.read_text(errors="replace")
        token = re.search(r"admin token\s+(\S+)", text)
        assert token, text
        assert f"http://127.0.0.1:{port}/" in text
        assert "embedded" in text
        assert (tmp_path / "taskplane.db").exists()
        children = children_of(dev.pid)
        assert sorted(children.values()) == ["api", "scheduler", "worker"]
        seen |= set(children)

        base = f"http://127.0.0.1:{port}/api/v1"
        headers = {"Authorization": f"Bearer {token.group(1)}"}
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=15) as http:

            async def healthy() -> bool:
                response = await http.get("/system/health")
                return response.status_code == 200 and response.json()["status"] == "ok"

            await eventually(healthy, within=60)
            wait_until(lambda: "example-manual-sleep" in log.read_text(), 60, "examples", log)
            examples = (await http.get("/configs", params={"q": "example-"})).json()
            by_name = {c["name"]: c for c in examples["items"]}
            assert by_name["example-echo-every-30s"]["schedule_status"] == "active"
            assert by_name["example-health-check-every-minute"]["schedule_status"] == "active"
            assert by_name["example-manual-sleep"]["schedule_status"] == "inactive"
            created = await http.post(
                "/configs",
                json={
                    "name": "dev-echo",
                    "task_type": "echo",
                    "scheduler_type": "manual",
                    "schedule_config": {},
                    "parameters": {"message": "hi from dev"},
                },
            )
            assert created.status_code == 201, created.text
            cid = created.json()["id"]
            run = await http.post(f"/configs/{cid}/run")
            assert run.status_code == 202, run.text

            async def succeeded() -> bool:
                page = (await http.get("/executions", params={"config_id": cid})).json()
                return any(e["is_success"] for e in page["items"])

            await eventually(succeeded, within=60)

            # a child that dies is reported and restarted
            worker_pid = next(p for p, what in children_of(dev.pid).items() if what == "worker")
            os.kill(worker_pid, signal.SIGKILL)
            wait_until(
                lambda: any(
                    what == "worker" and pid != worker_pid
                    for pid, what in children_of(dev.pid).items()
                ),
                60,
                "worker restarted",
                log,
            )
            seen |= set(children_of(dev.pid))
            assert "exited with code" in log.read_text(errors="replace")

        assert stop(dev, signal.SIGINT, within=60) == 0, log.read_text(errors="replace")[-3000:]
        assert children_of(dev.pid) == {}
        assert [pid for pid in seen if pid_alive(pid)] == []
        assert "stopped" in log.read_text(errors="replace")
    finally:
        if dev.poll() is None:
            stop(dev, signal.SIGTERM, within=30)
        for pid in children_of(dev.pid):
            os.kill(pid, signal.SIGKILL)
        kill_group(dev)
