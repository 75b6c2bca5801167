"""Processes stopped while they work: the api restarted under a client load (no 500, errors
only during the gap, the state consistent after), and a worker SIGTERMed mid-task (it
finishes the task and records it once). Real processes, a private Redis."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from redis.asyncio import Redis

from taskplane.messages import CONSUMER_GROUP
from taskplane.settings import Settings
from taskplane.state.keys import Keys
from tests import services as test_services
from tests.e2e.processes import stop
from tests.faults import figures, ledger_types
from tests.faults.conftest import Launch
from tests.faults.servers import PrivateRedis
from tests.faults.stack import (
    Reply,
    Stack,
    count,
    is_clean_refusal,
    requested_ids,
    stack_settings,
    wait_settled,
)
from tests.support import eventually
from tests.worker.conftest import Sessions, new_config, send, wait_rows

pytestmark = [pytest.mark.slow, pytest.mark.faults]


@pytest.fixture
async def stack(
    services: test_services.TestServices,
    server: PrivateRedis,
    sessions: Sessions,  # the run's database, wiped after the test
    launch: Launch,
    tmp_path: Path,
) -> AsyncIterator[Stack]:
    running = Stack(stack_settings(services, redis_url=server.url), launch, tmp_path)
    try:
        yield await running.start()
    finally:
        await running.close()


@dataclass
class Load:
    """What the clients saw while the api was restarted."""

    replies: list[Reply] = field(default_factory=list)
    accepted_runs: set[str] = field(default_factory=set)
    uncertain_runs: int = 0  # sent, no answer: may or may not have been dispatched
    uncertain_controls: int = 0
    conflicts: int = 0  # a 409 to pause/resume: only after an unanswered one
    status: str = "active"  # the schedule's status as the last answered action left it

    def add(self, reply: Reply) -> Reply:
        self.replies.append(reply)
        return reply


async def read_loop(stack: Stack, cid: int, load: Load, done: asyncio.Event) -> None:
    paths = [f"/configs/{cid}", "/schedules/summary", f"/executions?config_id={cid}&limit=5"]
    while not done.is_set():
        for path in paths:
            load.add(await stack.call("GET", path, f"GET {path}"))
        await asyncio.sleep(0.05)


async def run_loop(stack: Stack, cid: int, load: Load, done: asyncio.Event) -> None:
    while not done.is_set():
        reply = load.add(await stack.call("POST", f"/configs/{cid}/run"))
        if reply.status == 202:
            load.accepted_runs.add(reply.json()["task_id"])
        elif reply.status is None and reply.error != "ConnectError":
            load.uncertain_runs += 1  # a refused connection sent nothing: not uncertain
        await asyncio.sleep(0.1)


async def control_loop(stack: Stack, cid: int, load: Load, done: asyncio.Event) -> None:
    was_uncertain = False
    while not done.is_set():
        action = "pause" if load.status == "active" else "resume"
        reply = load.add(await stack.call("POST", f"/schedules/{cid}/{action}", json={}))
        if reply.status == 200:
            load.status = reply.json()["status"]
            was_uncertain = False
        elif reply.status == 409:
            load.conflicts += 1
            assert was_uncertain, f"409 with no unanswered action before it: {reply.body}"
        elif reply.status is None and reply.error != "ConnectError":
            load.uncertain_controls += 1
            was_uncertain = True
        if reply.status != 200:  # learn the real status where the api answers
            state = load.add(await stack.call("GET", f"/schedules/{cid}"))
            if state.status == 200:
                load.status = state.json()["status"]
        await asyncio.sleep(0.1)


async def test_api_restart_under_load_gives_no_500_and_a_consistent_state(
    stack: Stack, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    ledger = tmp_path / "ledger"
    # an hourly schedule that never fires here: its status moves only by the control loop
    cid = await stack.create_ledger_config(
        "api-restart", ledger, every_seconds=3600, run_immediately=False
    )
    load = Load()
    done = asyncio.Event()
    clients = [
        asyncio.create_task(loop(stack, cid, load, done))
        for loop in (read_loop, run_loop, control_loop)
    ]
    try:

        def answered() -> int:
            return len([r for r in load.replies if r.status is not None])

        async def busy(n: int) -> bool:
            return answered() >= n

        await eventually(lambda: busy(60), within=30)
        api, api_log = stack.procs["api"], stack.logs["api"]
        term_at = time.monotonic()
        exit_code = await asyncio.to_thread(stop, api, signal.SIGTERM, 30)
        stack.start_api()
        await stack.wait_healthy(within=60)
        back_at = time.monotonic()
        # 60 more answers once it is back (the gap's refused connections are no answers)
        served = answered()
        await eventually(lambda: busy(served + 60), within=30)
    finally:
        done.set()
        await asyncio.gather(*clients)

    # uvicorn shuts down gracefully, then re-raises the signal: exit status -15 (or 0)
    assert exit_code in (0, -signal.SIGTERM), exit_code
    assert "Application shutdown complete" in api_log.read_text(), api_log.read_text()[-2000:]
    five_hundreds = [r for r in load.replies if r.status is not None and r.status >= 500]
    assert all(is_clean_refusal(r) for r in five_hundreds), [
        f"{r.label} {r.status} {r.body[:200]}" for r in five_hundreds
    ]
    in_gap = [r for r in load.replies if r.answered_at >= term_at and r.sent_at <= back_at]
    outside = [r for r in load.replies if r not in in_gap]
    failed_outside = [
        f"{r.label} {r.status} {r.error}"
        for r in outside
        if r.status is None or r.status >= 500 or (r.status == 409 and "/schedules/" not in r.label)
    ]
    assert not failed_outside, failed_outside
    unanswered = [r for r in in_gap if r.status is None or r.status >= 500]
    assert unanswered, "the restart was not seen by any client: it proved nothing"

    # afterwards: every accepted run ran and is recorded once; a run with no answer ran
    # at most once; the schedule's status is what the last answered action said
    await wait_settled(stack, cid, ledger)
    counted = await count(stack, cid, ledger, 3600, until=datetime.now(UTC))
    runs = {task_id for task_id, _ in ledger_types.read(ledger)}
    assert load.accepted_runs <= runs
    assert len(runs - load.accepted_runs) <= load.uncertain_runs
    assert runs == requested_ids(await stack.history(cid))
    assert counted.lost == 0 and counted.duplicated == 0 and counted.unrequested == 0, counted
    assert load.conflicts <= load.uncertain_controls
    state = await stack.call("GET", f"/schedules/{cid}")
    assert state.status == 200, state.body
    assert state.json()["status"] == load.status
    assert state.json()["status_consistent"] is True
    summary = (await stack.call("GET", "/schedules/summary")).json()
    assert summary["total"] == 1 and summary[load.status] == 1, summary
    gap = [r for r in in_gap if r.status is None or r.status >= 500]
    figures.record(
        request,
        **counted.figures,
        requests=len(load.replies),
        answers_500=sum(1 for r in load.replies if r.status == 500),
        unanswered_or_503=len(gap),
        unavailable_seconds=max(r.answered_at for r in gap) - min(r.sent_at for r in gap),
        restart_to_healthy_seconds=back_at - term_at,
        accepted_runs=len(load.accepted_runs),
        uncertain_runs=load.uncertain_runs,
    )


def _starts(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


async def test_sigterm_mid_task_finishes_the_task_and_records_it_once(
    fault_settings: Settings,
    private: Redis,
    keys: Keys,
    sessions: Sessions,
    launch: Launch,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    cid = await new_config(sessions, "test_mark", parameters={"path": "unused"})
    proc, log = launch(fault_settings, "worker", "--concurrency", "2")

    async def beating() -> bool:
        return bool(await private.hlen(keys.workers))

    await eventually(beating, within=60)
    path = tmp_path / "mark"
    task_id = await send(private, keys, cid, "test_mark", {"path": str(path), "seconds": 3})

    async def running() -> bool:
        return _starts(path) == 1

    await eventually(running, within=30)
    term_at = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    exit_code = await asyncio.to_thread(proc.wait, 40)
    stopped_after = time.monotonic() - term_at
    assert exit_code == 0, log.read_text()[-3000:]

    # the run finished and was recorded before the worker left, exactly once
    found = await wait_rows(sessions, 1, within=10, task_id=task_id)
    assert [(r.attempt, r.is_success) for r in found] == [(1, True)]
    assert _starts(path) == 1
    # and acknowledged: no worker will ever be handed it again
    pending = await private.xpending(keys.broker_stream("default"), CONSUMER_GROUP)
    assert int(pending["pending"]) == 0
    assert await private.xlen(keys.recorder_buffer) == 0
    assert await private.hlen(keys.workers) == 0  # it withdrew its heartbeat
    figures.record(
        request,
        lost=0,
        duplicated=len(found) - 1 + _starts(path) - 1,
        stopped_after_sigterm_seconds=stopped_after,
    )
