"""``late`` incidents against real Redis and PostgreSQL, on a fake clock: when no scheduler
runs, when no worker serves the queue, when overlap skips pile up; never for due times a
pause left out. Each incident opens once and resolves once, with its two ``alert`` events."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from taskiq.message import TaskiqMessage

from taskplane import messages
from taskplane.actors import CLI
from taskplane.alerts.incidents import IncidentState, Kind
from taskplane.enums import Trigger
from taskplane.epoch import to_ms
from taskplane.scheduling.engine import Engine
from taskplane.services import Services
from taskplane.state import running
from taskplane.tasks.registry import TaskRegistry
from taskplane.worker.recorder import ExecutionRecorder
from tests.alerts.conftest import Clock, create, detector
from tests.support import stream_entries

LATE = {"late_after_seconds": 30, "failures_in_row": None}


async def alert_events(stack: Services, config_id: int) -> list[dict[str, Any]]:
    """The config's ``alert`` history events, oldest first."""
    events, _ = await stack.state.history(config_id, limit=200)
    return [e.details for e in reversed(events) if e.event == "alert"]


async def queued(stack: Services) -> list[TaskiqMessage]:
    redis, keys = stack.resources.redis, stack.resources.keys
    entries = await stream_entries(redis, keys.broker_stream("default"))
    return [messages.decode(fields["data"]) for _, fields in entries]


def engine_of(stack: Services, clock: Clock) -> Engine:
    return Engine(stack.resources.redis, stack.resources.keys, clock=clock, history_max=200)


def worker_claims(stack: Services, registry: TaskRegistry) -> ExecutionRecorder:
    """The worker's recorder: its claim script marks the start of an alerting config's run."""
    resources = stack.resources
    return ExecutionRecorder(resources.redis, resources.keys, resources.settings, registry, "w1")


async def test_late_opens_when_no_scheduler_runs_and_resolves_once_a_run_starts(
    stack: Services, clock: Clock
) -> None:
    row = await create(stack, "nightly-report", alerts=LATE)
    due = await stack.core.next_due(row.id)
    assert due is not None
    d = detector(stack)

    clock.at = due + timedelta(seconds=29)
    assert (await d.check(clock.at)).opened == []  # not late yet
    clock.at = due + timedelta(seconds=31)
    opened = (await d.check(clock.at)).opened
    assert [(i.config_id, i.kind, i.due_at) for i in opened] == [(row.id, Kind.LATE, due)]
    assert "no run has started" in opened[0].detail
    clock.advance(60)
    assert (await d.check(clock.at)).opened == []  # still late: not opened again

    await stack.alerts.mark_start(row.id, to_ms(due))  # what the claim of its run marks
    resolved = (await d.check(clock.at)).resolved
    assert [i.id for i in resolved] == [opened[0].id]
    assert (await d.check(clock.at)).resolved == []

    iso = due.isoformat()
    assert await alert_events(stack, row.id) == [
        {"kind": "late", "state": "open", "due_at": iso},
        {"kind": "late", "state": "resolved", "due_at": iso},
    ]
    page = await stack.alerts.page(state=None, config_id=row.id, after=None, limit=10, offset=0)
    [incident] = page.items
    assert incident.state is IncidentState.RESOLVED
    assert incident.name == "nightly-report"
    assert incident.resolved_at == clock.at


async def test_late_when_the_scheduler_fires_but_no_worker_serves_the_queue(
    stack: Services, clock: Clock, registry: TaskRegistry
) -> None:
    row = await create(stack, "no-worker", alerts=LATE)
    due = await stack.core.next_due(row.id)
    assert due is not None
    engine, d = engine_of(stack, clock), detector(stack)

    clock.at = due
    assert (await engine.tick()).sent == 1  # fired: queued, nobody runs it
    clock.advance(31)
    [incident] = (await d.check(clock.at)).opened
    assert (incident.kind, incident.due_at) == (Kind.LATE, due)

    [message] = await queued(stack)
    await worker_claims(stack, registry).pre_execute(message)  # a worker finally starts it
    [resolved] = (await d.check(clock.at)).resolved
    assert resolved.id == incident.id
    assert [e["state"] for e in await alert_events(stack, row.id)] == ["open", "resolved"]

    # the watch moved on to the next due time: it started on time, so nothing opens
    clock.at = due + timedelta(seconds=60)
    assert (await engine.tick()).sent == 1
    [second] = [m for m in await queued(stack) if m.task_id != message.task_id]
    await worker_claims(stack, registry).pre_execute(second)
    clock.advance(45)
    assert (await d.check(clock.at)).opened == []


async def test_late_when_overlap_skips_pile_up_opens_once(
    stack: Services, clock: Clock, registry: TaskRegistry
) -> None:
    row = await create(
        stack,
        "overlapping",
        alerts=LATE,
        schedule_config={"seconds": 60, "run_immediately": False, "overlap": "skip"},
    )
    due = await stack.core.next_due(row.id)
    assert due is not None
    engine, d, worker = engine_of(stack, clock), detector(stack), worker_claims(stack, registry)

    clock.at = due
    assert (await engine.tick()).sent == 1
    [long_run] = await queued(stack)
    await worker.pre_execute(long_run)  # it starts, and runs on and on
    clock.advance(31)
    assert (await d.check(clock.at)).opened == []  # that one started on time

    opened = []
    for n in range(1, 5):  # the next four due times are skipped: overlap
        clock.at = due + timedelta(seconds=60 * n)
        assert (await engine.tick()).sent == 0
        clock.advance(31)
        opened += (await d.check(clock.at)).opened
    [incident] = opened
    assert incident.due_at == due + timedelta(seconds=60)
    assert "skipped (overlap)" in incident.detail

    # the long run ends; the next due time fires and starts: resolved, once
    await running.remove(stack.resources.redis, stack.resources.keys, row.id, long_run.task_id)
    clock.at = due + timedelta(seconds=300)
    assert (await engine.tick()).sent == 1
    [fresh] = [m for m in await queued(stack) if m.task_id != long_run.task_id]
    await worker.pre_execute(fresh)
    [resolved] = (await d.check(clock.at)).resolved
    assert resolved.id == incident.id
    assert (await d.check(clock.at)).resolved == []
    assert [e["state"] for e in await alert_events(stack, row.id)] == ["open", "resolved"]


async def test_due_times_a_pause_left_out_are_never_late(stack: Services, clock: Clock) -> None:
    row = await create(stack, "paused", alerts=LATE)
    due = await stack.core.next_due(row.id)
    assert due is not None
    d = detector(stack)
    assert (await stack.scheduler.pause(row, note="maintenance", actor=CLI)).success
    for minutes in (1, 5, 60):
        clock.at = due + timedelta(minutes=minutes)
        assert (await d.check(clock.at)).opened == []
    assert await alert_events(stack, row.id) == []


async def test_a_config_without_alerts_is_never_examined(stack: Services, clock: Clock) -> None:
    row = await create(stack, "quiet", alerts=None)
    due = await stack.core.next_due(row.id)
    assert due is not None
    clock.at = due + timedelta(hours=2)
    done = await detector(stack).check(clock.at)
    assert (done.examined, done.opened) == (0, [])
    raw = await stack.resources.redis.hget(stack.resources.keys.alert_configs, str(row.id))
    assert raw is None


async def test_turning_the_alert_off_resolves_its_open_incident(
    stack: Services, clock: Clock
) -> None:
    row = await create(stack, "turned-off", alerts=LATE)
    due = await stack.core.next_due(row.id)
    assert due is not None
    d = detector(stack)
    clock.at = due + timedelta(seconds=40)
    assert len((await d.check(clock.at)).opened) == 1
    await stack.configs.update(row.id, {"alerts": None}, actor=CLI)
    [resolved] = (await d.check(clock.at)).resolved
    assert json.loads(resolved.to_json())["kind"] == "late"
    assert await stack.alerts.open_incidents() == []


async def test_the_workers_claim_marks_starts_of_alerting_configs_only(
    stack: Services, registry: TaskRegistry
) -> None:
    quiet = await create(stack, "quiet-claims", alerts=None, start=False)
    loud = await create(stack, "loud-claims", alerts=LATE, start=False)
    worker = worker_claims(stack, registry)
    for row in (quiet, loud):
        out = messages.build(
            config_id=row.id,
            task_type="echo",
            queue="default",
            parameters={"message": "x"},
            trigger=Trigger.MANUAL,
        )
        await worker.pre_execute(messages.decode(out.body))
    keys = stack.resources.keys
    marks = await stack.resources.redis.hgetall(keys.alert_started)
    assert set(marks) == {str(loud.id)}  # nothing kept for a config without alerts
