"""A whole stack (api + scheduler + worker, real processes) on a replicated Redis found through
Sentinel: a primary, a replica and three Sentinels of its own (tests/faults/sentinels.py),
``down-after-milliseconds`` 2000. Under a firing load (100 interval schedules every 2 s, run
now calls, pauses) the primary is ``kill -9``ed.

Asserted (the properties; timings are measured and stored, never asserted): every process
follows the failover without a restart (each still runs, the api answers again, fires flow
again); no execution is recorded twice; every due time of every schedule is either fired
or dropped by the misfire policy, and every fire or run the new primary knows of runs and is
recorded (nothing lost silently); what `taskplane reconcile` runs (on the Sentinel settings)
leaves every schedule consistent.

Measured and stored for docs/reliability.md (tests/faults/sentinel_section.py): seconds
until the Sentinels named the new primary, until the api answered again, until a fire due
after the kill ran; the due times the misfire policy collapsed; the replication backlog at
the kill; and what the old primary acknowledged and the new one never had (run-now calls
answered 202 that never ran, pauses answered 200 that the new primary does not hold, runs
repeated because their delivery was lost), with what reconcile repaired.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taskplane.cli.services import reconcile_all
from taskplane.resources import make_redis
from tests import services as test_services
from tests.faults import figures, ledger_types
from tests.faults.conftest import Launch
from tests.faults.sentinels import (
    DOWN_AFTER_MS,
    FAILOVER_TIMEOUT_MS,
    MASTER,
    ReplicatedRedis,
    replicated_redis,
)
from tests.faults.stack import Count, Reply, Stack, is_clean_refusal, stack_settings, tally
from tests.support import eventually

pytestmark = [pytest.mark.slow, pytest.mark.faults, pytest.mark.timeout(240)]
T = TypeVar("T")

SCHEDULES = 100
EVERY_SECONDS = 2
PAUSED_UNDER_LOAD = 10  # schedules paused one by one while the load runs
UNUSED_ADDRESS = "redis://127.0.0.1:9/0"
"""TASKPLANE_REDIS_URL of every process: under Sentinel its host and port are never used
(nothing listens there), so a process that reached Redis another way would fail here."""


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[ReplicatedRedis]:
    data = tmp_path / "redis"
    data.mkdir()
    with replicated_redis(data) as running:
        yield running


def sentinel_env(servers: ReplicatedRedis) -> dict[str, str]:
    return {
        "TASKPLANE_REDIS_SENTINELS": servers.sentinels,
        "TASKPLANE_REDIS_SENTINEL_MASTER": MASTER,
        # the broker's safety net in seconds, not 5 min: a delivery the old primary saw
        # and the new one holds as pending for a worker that has forgotten it (its ack was
        # lost) is re-delivered within this test (tests/faults/sentinel_section.py)
        "TASKPLANE_BROKER_IDLE_TIMEOUT_MS": "8000",
    }


@pytest.fixture
async def stack(
    services: test_services.TestServices,
    servers: ReplicatedRedis,
    sessions: async_sessionmaker[AsyncSession],  # the run's database, wiped after the test
    launch: Launch,
    tmp_path: Path,
) -> AsyncIterator[Stack]:
    base = stack_settings(services, redis_url=UNUSED_ADDRESS)
    settings = base.model_copy(
        update={
            "redis_sentinels": [("127.0.0.1", w.port) for w in servers.watchers],
            "redis_sentinel_master": MASTER,
        }
    )
    running = Stack(settings, launch, tmp_path, env=sentinel_env(servers), worker_concurrency=16)
    try:
        yield await running.start()
    finally:
        await running.close()


@dataclass
class Load:
    """What a client asked for while the primary died, and what it was told."""

    run_acked: dict[str, int] = field(default_factory=dict)  # task id -> config id (202)
    paused_acked: dict[int, float] = field(default_factory=dict)  # config id -> when (200)
    refused: int = 0  # clean 503s
    unclean: list[str] = field(default_factory=list)  # neither 2xx nor a clean 503


async def drive(
    stack: Stack,
    cids: list[int],
    to_pause: list[int],
    pausing: asyncio.Event,
    done: asyncio.Event,
    load: Load,
) -> None:
    """Run now a random config every ~0.1 s and, while ``pausing``, pause one of
    ``to_pause`` every ~1 s, until ``done``; what was acknowledged is kept."""
    rng = random.Random(28)
    turn = 0
    while not done.is_set():
        reply = await stack.call("POST", f"/configs/{rng.choice(cids)}/run", "POST run")
        if reply.status == 202:
            body = reply.json()
            load.run_acked[body["task_id"]] = body["config_id"]
        else:
            note(load, reply)
        if turn % 10 == 0 and to_pause and pausing.is_set():
            target = to_pause[-1]
            reply = await stack.call(
                "POST", f"/schedules/{target}/pause", "POST pause", json={"note": "load"}
            )
            if reply.status == 200:
                load.paused_acked[to_pause.pop()] = time.time()
            elif reply.status == 409:  # an earlier attempt, cut off unanswered, had paused it
                to_pause.pop()
            else:
                note(load, reply)
        turn += 1
        await asyncio.sleep(0.1)


def note(load: Load, reply: Reply) -> None:
    if is_clean_refusal(reply) or reply.status is None:  # None: cut while the api reconnects
        load.refused += 1
    else:
        load.unclean.append(f"{reply.label} -> {reply.status} {reply.body[:300]}")


async def create_configs(stack: Stack, ledger: Path) -> list[int]:
    gate = asyncio.Semaphore(8)

    async def one(n: int) -> int:
        async with gate:
            return await stack.create_ledger_config(
                f"failover-{n}", ledger, every_seconds=EVERY_SECONDS, run_immediately=False
            )

    return list(await asyncio.gather(*(one(n) for n in range(SCHEDULES))))


def passed(task_id: str, instant: datetime) -> bool:
    """``task_id`` is a scheduled fire due after ``instant``."""
    due = due_stamp(task_id)
    return due is not None and due > instant.timestamp()


def due_stamp(task_id: str) -> float | None:
    """A scheduled fire's due time (s) from its task id ``{config}-{due ms}``."""
    stamp = task_id.rsplit("-", 1)[-1]
    return int(stamp) / 1000 if stamp.isdigit() else None


def replication_backlog(servers: ReplicatedRedis) -> int:
    """Bytes the primary had written that the replica had not confirmed, a moment before
    the kill (INFO replication on each)."""
    primary = servers.primary.client().info("replication")
    replica = servers.replica.client().info("replication")
    return max(0, int(primary["master_repl_offset"]) - int(replica["master_repl_offset"]))


@dataclass
class Read:
    """Every config's history and every execution record, as last read."""

    histories: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    executions: list[dict[str, Any]] = field(default_factory=list)


async def settle(stack: Stack, cids: list[int], ledger: Path, within: float = 90) -> Read:
    """Wait until every task id the schedules' histories requested has run and has its
    record; returns what was read last."""
    read = Read()

    async def settled() -> bool:
        ran = {task_id for task_id, _ in ledger_types.read(ledger)}
        read.executions = await stack.executions()
        read.histories = dict(zip(cids, await gathered(stack.history, cids), strict=True))
        recorded = {e["task_id"] for e in read.executions}
        wanted = {
            e["details"]["task_id"]
            for history in read.histories.values()
            for e in history
            if e["event"] in ("fired", "run_requested") and "task_id" in e["details"]
        }
        return wanted <= ran and wanted <= recorded

    await eventually(settled, within=within)
    return read


def grid_end(history: list[dict[str, Any]], until: datetime) -> datetime:
    """Up to when a config's due times must all be fired or dropped: ``until``, or for a
    config paused under load, its last fire before that pause (a due time the pause came
    before is not the scheduler's to account for)."""
    paused = [e for e in history if e["event"] == "paused" and e["note"] == "load"]
    if not paused:
        return until
    fired = [
        datetime.fromisoformat(e["details"]["due_at"])
        for e in history
        if e["event"] == "fired" and e["details"].get("trigger") == "scheduled"
    ]
    at = min(datetime.fromisoformat(e["timestamp"]) for e in paused)
    return min([until, at, *([max(d for d in fired if d <= at)] if fired else [])])


async def gathered(read: Callable[[int], Awaitable[T]], cids: list[int]) -> list[T]:
    """``read`` of every config, a few at a time."""
    gate = asyncio.Semaphore(8)

    async def one(cid: int) -> T:
        async with gate:
            return await read(cid)

    return list(await asyncio.gather(*(one(cid) for cid in cids)))


async def test_stack_follows_a_sentinel_failover_under_load(
    stack: Stack,
    servers: ReplicatedRedis,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    ledger = tmp_path / "ledger"
    cids = await create_configs(stack, ledger)
    started = time.monotonic()

    async def all_fired() -> bool:  # every schedule has fired: the load is on
        ran = {int(t.split("-", 1)[0]) for t, _ in ledger_types.read(ledger) if due_stamp(t)}
        return ran >= set(cids)

    await eventually(all_fired, within=30)

    load = Load()
    pausing, done = asyncio.Event(), asyncio.Event()
    pausing.set()
    to_pause = cids[-PAUSED_UNDER_LOAD:]
    driver = asyncio.create_task(drive(stack, cids, to_pause, pausing, done, load))
    await asyncio.sleep(3 * EVERY_SECONDS)

    pausing.clear()  # the pauses a failover may lose are those acknowledged before it
    backlog = await asyncio.to_thread(replication_backlog, servers)
    killed_wall = time.time()
    killed = time.monotonic()
    old = ("127.0.0.1", servers.primary.port)
    await asyncio.to_thread(servers.primary.kill)

    async def promoted() -> bool:
        address = await asyncio.to_thread(servers.master_address)
        return address is not None and address != old

    await eventually(promoted, within=30)
    promoted_after = time.monotonic() - killed

    async def answers() -> bool:  # a read that needs Redis, sent after the kill
        reply = await stack.call("GET", f"/schedules/{cids[0]}")
        return reply.status == 200

    await eventually(answers, within=30)
    api_after = time.monotonic() - killed

    async def fires_flow() -> bool:  # a fire due after the kill has run
        return any(
            (due or 0) > killed_wall + 1
            for due in (due_stamp(t) for t, _ in ledger_types.read(ledger))
        )

    await eventually(fires_flow, within=30)
    fires_after = time.monotonic() - killed
    await asyncio.sleep(2 * EVERY_SECONDS)  # the load goes on after the failover
    done.set()
    await driver
    assert stack.alive() == {"api": True, "scheduler": True, "worker": True}, stack.output()

    # what the old primary acknowledged and the new one does not hold
    statuses = {
        cid: (await stack.call("GET", f"/schedules/{cid}")).json()["status"]
        for cid in load.paused_acked
    }
    pauses_lost = sorted(cid for cid, status in statuses.items() if status != "paused")
    # what `taskplane reconcile` runs, on the settings every process has (Sentinel)
    report = await reconcile_all(stack.settings)

    # the scheduler has handled every due time up to `until` before the last pause
    until = datetime.now(UTC)
    active = [cid for cid in cids if cid not in load.paused_acked or cid in pauses_lost]

    async def past_until() -> bool:
        ran = {t.split("-", 1)[0] for t, _ in ledger_types.read(ledger) if passed(t, until)}
        return ran >= {str(cid) for cid in active}

    await eventually(past_until, within=60)
    paused = await stack.call(
        "POST", "/schedules/bulk/pause", json={"config_ids": active, "note": "done"}
    )
    assert paused.status == 200 and not paused.json()["errors"], paused.body
    read = await settle(stack, cids, ledger)

    started_runs = ledger_types.read(ledger)
    counts: dict[int, Count] = {}
    for cid, history in read.histories.items():
        mine = [e for e in read.executions if e["config_id"] == cid]
        end = grid_end(history, until)
        counts[cid] = tally(history, mine, started_runs, EVERY_SECONDS, until=end)
    lost = sum(c.lost for c in counts.values())
    dues_unaccounted = sum(c.dues_unaccounted for c in counts.values())
    dropped = sum(c.dropped_by_policy for c in counts.values())
    states = await gathered(lambda cid: stack.call("GET", f"/schedules/{cid}"), cids)
    inconsistent = [r.body for r in states if r.json()["status_consistent"] is not True]

    runs = Counter(task_id for task_id, _ in started_runs)
    records = Counter(e["task_id"] for e in read.executions)
    recorded_twice = sum(n - 1 for n in records.values() if n > 1)
    runs_repeated = sum(n - 1 for n in runs.values() if n > 1)
    runs_acked_lost = sorted(t for t in load.run_acked if runs[t] == 0)

    figures.record(
        request,
        schedules=SCHEDULES,
        every_seconds=EVERY_SECONDS,
        down_after_ms=DOWN_AFTER_MS,
        failover_timeout_ms=FAILOVER_TIMEOUT_MS,
        replication_backlog_bytes=backlog,
        promoted_seconds=promoted_after,
        api_answers_seconds=api_after,
        fires_flow_seconds=fires_after,
        fires=sum(1 for t in runs if due_stamp(t) is not None),
        run_now_acknowledged=len(load.run_acked),
        run_now_acknowledged_never_ran=len(runs_acked_lost),
        pauses_acknowledged=len(load.paused_acked),
        pauses_acknowledged_lost=len(pauses_lost),
        refused_during_failover=load.refused,
        lost=lost + dues_unaccounted,
        duplicated=recorded_twice,
        runs_repeated=runs_repeated,
        dropped_by_misfire_policy=dropped,
        reconcile_repairs=len(report.repairs),
        test_seconds=time.monotonic() - started,
    )
    assert not load.unclean, "\n".join(load.unclean[:20])
    assert recorded_twice == 0, records.most_common(5)
    unkept = {cid: c for cid, c in counts.items() if c.lost or c.dues_unaccounted}
    assert not unkept, {cid: (c, read.histories[cid][:12]) for cid, c in list(unkept.items())[:3]}
    assert not inconsistent, inconsistent[:3]
    # the test's own client finds the new primary through the Sentinels too
    client = make_redis(stack.settings, pool_size=2)
    try:
        assert await client.ping()
    finally:
        await client.aclose()
        await client.connection_pool.disconnect()
