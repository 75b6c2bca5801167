"""`taskplane dev --example` on a machine where nothing is configured: SQLite, embedded
Redis, a generated admin token, the example configs; a config created and run over HTTP;
a dead child is restarted; SIGINT stops everything and leaves no child process behind."""

from __future__ import annotations

import itertools
import os
import re
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests import services as test_services
from tests.e2e.processes import (
    children_of,
    free_port,
    kill_group,
    pid_alive,
    start,
    stop,
    wait_healthy,
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
        embedded_redis = _redis_children(dev.pid)
        assert len(embedded_redis) == 1  # a real redis-server, not a thread of dev
        seen |= set(embedded_redis)

        base = f"http://127.0.0.1:{port}/api/v1"
        headers = {"Authorization": f"Bearer {token.group(1)}"}
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=15) as http:
            await wait_healthy(http, within=60)
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


def _dev_token(log: Path, runs_before: int) -> str:
    """The generated admin token of the (runs_before + 1)-th banner in ``log``."""
    wait_until(
        lambda: log.read_text(errors="replace").count("admin token") > runs_before,
        120,
        "banner",
        log,
    )
    tokens = re.findall(r"admin token\s+(\S+)", log.read_text(errors="replace"))
    return str(tokens[runs_before])


def _redis_children(parent_pid: int) -> list[int]:
    """redis-server processes whose parent is ``parent_pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat.rsplit(")", 1)[1].split()
        if name == "redis-server" and fields[0] != "Z" and int(fields[1]) == parent_pid:
            found.append(int(entry.name))
    return found


async def test_dev_restart_keeps_every_schedule_state_and_fires_on_without_a_burst(
    tmp_path: Path,
) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKPLANE_")}
    env["TASKPLANE_API_PORT"] = str(port)
    env["PYTHONUNBUFFERED"] = "1"
    log = tmp_path / "dev.log"
    base = f"http://127.0.0.1:{port}/api/v1"
    interval = 2
    dev = start(["dev"], env, log, cwd=tmp_path)
    try:
        token = _dev_token(log, 0)
        assert _redis_children(dev.pid), "the embedded Redis is a child of taskplane dev"
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=15) as http:

            async def create(name: str, kind: str, config: dict[str, object]) -> int:
                response = await http.post(
                    "/configs",
                    params={"auto_start": "true"},
                    json={
                        "name": name,
                        "task_type": "echo",
                        "scheduler_type": kind,
                        "schedule_config": config,
                        "parameters": {"message": name},
                    },
                )
                assert response.status_code == 201, response.text
                return int(response.json()["id"])

            ticking = await create("ticking", "interval", {"seconds": interval})
            paused = await create("paused", "interval", {"seconds": 3600})
            # microseconds in the run date: the kind of value that once fired for ever
            run_date = (datetime.now(UTC) + timedelta(seconds=3)).isoformat()
            once = await create("once", "date", {"run_date": run_date})
            pause = await http.post(
                f"/schedules/{paused}/pause", json={"note": "database maintenance"}
            )
            assert pause.status_code == 200, pause.text

            async def date_completed() -> bool:
                info = (await http.get(f"/schedules/{once}")).json()
                return bool(info["status"] == "inactive")

            async def ticked_twice() -> bool:
                return bool((await http.get(f"/schedules/{ticking}")).json()["runs"] >= 2)

            await eventually(date_completed, within=60)
            await eventually(ticked_twice, within=60)
            before = {
                cid: (await http.get(f"/schedules/{cid}")).json() for cid in (ticking, paused, once)
            }
            history_before = {
                cid: (await http.get(f"/schedules/{cid}/history", params={"limit": 200})).json()[
                    "items"
                ]
                for cid in (ticking, paused, once)
            }

        assert stop(dev, signal.SIGINT, within=60) == 0, log.read_text(errors="replace")[-3000:]
        assert _redis_children(dev.pid) == []
        stopped_at = datetime.now(UTC)

        dev = start(["dev"], env, log, cwd=tmp_path)
        token = _dev_token(log, 1)
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=15) as http:
            after = {
                cid: (await http.get(f"/schedules/{cid}")).json() for cid in (ticking, paused, once)
            }
            # status, note and counters came back
            assert after[ticking]["status"] == "active"
            assert after[paused]["status"] == "paused"
            assert after[paused]["note"] == "database maintenance"
            assert after[once]["status"] == "inactive"
            assert after[ticking]["runs"] >= before[ticking]["runs"]
            assert after[once]["runs"] == 1
            assert after[ticking]["next_run_at"] is not None
            assert after[paused]["next_run_at"] is None
            # the history came back: everything seen before is still there
            for cid, items in history_before.items():
                now_items = (
                    await http.get(f"/schedules/{cid}/history", params={"limit": 200})
                ).json()["items"]
                assert now_items[-len(items) :] == items, cid
            once_events = [
                e["event"]
                for e in (
                    await http.get(f"/schedules/{once}/history", params={"limit": 200})
                ).json()["items"]
            ]
            assert once_events.count("fired") == 1, once_events
            assert "completed" in once_events
            executions = (await http.get("/executions", params={"config_id": once})).json()
            assert executions["total"] == 1

            # the interval goes on, on its own cadence, without a burst for the downtime
            async def ticked_after_restart() -> bool:
                items = (
                    await http.get(f"/schedules/{ticking}/history", params={"limit": 200})
                ).json()["items"]
                return (
                    sum(
                        1
                        for e in items
                        if e["event"] == "fired"
                        and datetime.fromisoformat(e["timestamp"]) > stopped_at
                    )
                    >= 2
                )

            await eventually(ticked_after_restart, within=60)
            items = (await http.get(f"/schedules/{ticking}/history", params={"limit": 200})).json()[
                "items"
            ]
            fired = [e for e in reversed(items) if e["event"] == "fired"]
            dues = [datetime.fromisoformat(e["details"]["due_at"]) for e in fired]
            assert len(set(dues)) == len(dues), "a due time was sent twice"
            gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(dues)]
            # anchored cadence (the first, immediate run is at the start's own instant)
            assert all(round(g) % interval == 0 and abs(g - round(g)) < 0.01 for g in gaps), gaps
            restarted_fires = [
                e for e in fired if datetime.fromisoformat(e["timestamp"]) > stopped_at
            ]
            elapsed = (datetime.now(UTC) - stopped_at).total_seconds()
            # the downtime's missed fires collapse to one catch-up: never a burst
            assert len(restarted_fires) <= elapsed / interval + 2, (len(restarted_fires), elapsed)
            skipped = [e for e in items if e["event"] == "skipped"]
            assert all(e["details"]["reason"] == "misfire" for e in skipped)

        assert stop(dev, signal.SIGINT, within=60) == 0, log.read_text(errors="replace")[-3000:]
    finally:
        if dev.poll() is None:
            stop(dev, signal.SIGTERM, within=30)
        kill_group(dev)


async def test_dev_banner_shows_no_supplied_token_and_no_dsn_password(
    tmp_path: Path, services: test_services.TestServices
) -> None:
    if services.database_kind != "postgresql":
        pytest.fail("this test needs the run's PostgreSQL (trust auth ignores the password)")
    port = free_port()
    secret_token = "supplied-admin-token-5ecret"
    password = "dsn-pa55word"
    dsn = services.database_url.replace("://postgres@", f"://postgres:{password}@")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKPLANE_")}
    env |= {
        "TASKPLANE_API_PORT": str(port),
        "TASKPLANE_ADMIN_TOKEN": secret_token,
        "TASKPLANE_DATABASE_URL": dsn,
        "PYTHONUNBUFFERED": "1",
    }
    log = tmp_path / "dev.log"
    dev = start(["dev"], env, log, cwd=tmp_path)
    try:
        wait_until(lambda: "admin token" in log.read_text(errors="replace"), 120, "banner", log)
        async with httpx.AsyncClient(timeout=15) as http:
            response = await http.get(
                f"http://127.0.0.1:{port}/api/v1/task-types",
                headers={"Authorization": f"Bearer {secret_token}"},
            )
            assert response.status_code == 200  # the supplied token is the one in force
        assert stop(dev, signal.SIGINT, within=60) == 0
        text = log.read_text(errors="replace")
        assert "from TASKPLANE_ADMIN_TOKEN" in text
        assert secret_token not in text
        assert password not in text
        assert "postgres:***@" in text or "postgres@" in text, text[-2000:]
    finally:
        if dev.poll() is None:
            stop(dev, signal.SIGTERM, within=30)
        kill_group(dev)
