"""``failing`` incidents, and exactly once with two detectors on one Redis: two loops
(one leads under the lease) and two bare detectors racing (the compare-and-set script)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from itertools import count

from taskplane.alerts.incidents import IncidentState, Kind
from taskplane.epoch import to_ms
from taskplane.services import Services
from taskplane.state.schedule_records import ExecutionOutcome
from tests.alerts.conftest import Clock, alert_loop, create, detector
from tests.alerts.test_late import LATE, alert_events

FAILING = {"late_after_seconds": None, "failures_in_row": 2}
_ids = count(1)


async def runs(stack: Services, config_id: int, clock: Clock, *outcomes: bool) -> None:
    """Executions counted as the worker's flusher counts them."""
    for ok in outcomes:
        clock.advance(1)
        await stack.state.record_executions(
            [ExecutionOutcome(config_id, f"t{next(_ids)}", ok, clock.at)]
        )


async def test_failing_opens_at_n_failures_in_a_row_and_resolves_at_the_next_success(
    stack: Services, clock: Clock
) -> None:
    row = await create(stack, "flaky", alerts=FAILING, start=False)
    d = detector(stack)
    await runs(stack, row.id, clock, False, True, False)  # a success broke the row
    assert (await d.check(clock.at)).opened == []
    await runs(stack, row.id, clock, False)
    [incident] = (await d.check(clock.at)).opened
    assert (incident.kind, incident.detail) == (Kind.FAILING, "the last 2 runs failed")
    await runs(stack, row.id, clock, False, False)
    assert (await d.check(clock.at)).opened == []  # still failing: one incident

    # a success then a failure between two passes: the success still resolves it
    await runs(stack, row.id, clock, True, False)
    [resolved] = (await d.check(clock.at)).resolved
    assert resolved.id == incident.id
    assert resolved.detail == "a run succeeded"
    assert [e["state"] for e in await alert_events(stack, row.id)] == ["open", "resolved"]
    assert (await alert_events(stack, row.id))[0] == {
        "kind": "failing",
        "state": "open",
        "due_at": None,
    }


async def test_two_alert_loops_open_and_resolve_each_incident_once(
    stack: Services, clock: Clock
) -> None:
    late = await create(stack, "late-one", alerts=LATE)
    flaky = await create(stack, "flaky-one", alerts=FAILING, start=False)
    due = await stack.core.next_due(late.id)
    assert due is not None
    first, second = alert_loop(stack, clock), alert_loop(stack, clock)
    try:
        await runs(stack, flaky.id, clock, False, False)
        clock.at = due + timedelta(seconds=31)
        passes = await asyncio.gather(first.step(), second.step(), first.step(), second.step())
        assert sum(p is None for p in passes) == 2  # one loop leads; the other waits
        assert [first.is_leader, second.is_leader].count(True) == 1
        await stack.alerts.mark_start(late.id, to_ms(due))
        await runs(stack, flaky.id, clock, True)
        await asyncio.gather(first.step(), second.step(), first.step(), second.step())
    finally:
        await first.close()
        await second.close()
    for row in (late, flaky):
        assert [e["state"] for e in await alert_events(stack, row.id)] == ["open", "resolved"]
    page = await stack.alerts.page(state=None, config_id=None, after=None, limit=10, offset=0)
    assert sorted((i.kind, i.state) for i in page.items) == [
        (Kind.FAILING, IncidentState.RESOLVED),
        (Kind.LATE, IncidentState.RESOLVED),
    ]


async def test_two_detectors_racing_without_a_lease_still_open_each_incident_once(
    stack: Services, clock: Clock
) -> None:
    rows = [await create(stack, f"racy-{n}", alerts=FAILING, start=False) for n in range(5)]
    for row in rows:
        await runs(stack, row.id, clock, False, False)
    detectors = [detector(stack) for _ in range(4)]
    passes = await asyncio.gather(*(d.check(clock.at) for d in detectors))
    opened = [i for p in passes for i in p.opened]
    assert sorted(i.config_id for i in opened) == sorted(r.id for r in rows)
    for row in rows:
        await runs(stack, row.id, clock, True)
    passes = await asyncio.gather(*(d.check(clock.at) for d in detectors))
    assert sorted(i.config_id for p in passes for i in p.resolved) == sorted(r.id for r in rows)
    for row in rows:
        assert [e["state"] for e in await alert_events(stack, row.id)] == ["open", "resolved"]
