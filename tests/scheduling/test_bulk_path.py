"""The bulk path (``scheduling/bulk/``) against the single path, in Redis:
every action from every status leaves the same state, history, registration, due score and
live event as the single call; locks are respected; a failed chunk changes nothing."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from taskplane.actors import CLI
from taskplane.api.errors import status_of
from taskplane.db.configs import ConfigRow
from taskplane.enums import Action, ScheduleStatus
from taskplane.errors import TaskplaneError
from taskplane.scheduling import specs
from taskplane.scheduling.bulk import Refused
from taskplane.scheduling.bulk import lua as bulk_lua
from taskplane.scheduling.bulk import run as bulk_run
from taskplane.scheduling.bulk.report import refusal
from taskplane.scheduling.bulk.script import BulkScript
from taskplane.scheduling.evalsha import RawScript
from taskplane.scheduling.service import SchedulerService
from taskplane.settings import Settings
from taskplane.state import events as live_events
from taskplane.state.keys import Keys
from taskplane.state.schedule_records import read_metadata
from taskplane.tasks.registry import TaskRegistry
from tests.scheduling.registrations import Config
from tests.stored_events import stored_event

ACTIVE, PAUSED, INACTIVE, ERROR = (
    ScheduleStatus.ACTIVE,
    ScheduleStatus.PAUSED,
    ScheduleStatus.INACTIVE,
    ScheduleStatus.ERROR,
)
INSTANT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$")


def Cfg(id: int, **fields: Any) -> ConfigRow:
    values: dict[str, Any] = {
        "name": f"cfg-{id}",
        "schedule_config": {"hours": 1, "run_immediately": False},
        "parameters": {"message": "hi"},
        "timeout_seconds": None,
        **fields,
    }
    return Config(id, **values)


SHAPES: dict[str, dict[str, Any]] = {
    "interval": {"scheduler_type": "interval", "schedule_config": {"minutes": 7}},
    "immediate": {
        "scheduler_type": "interval",
        "schedule_config": {"seconds": 30, "run_immediately": True},
    },
    "cron": {
        "scheduler_type": "cron",
        "schedule_config": {"cron_expression": "*/5 * * * *", "timezone": "Europe/Berlin"},
    },
    "date": {"scheduler_type": "date", "schedule_config": {"run_date": "2099-06-01T08:30:00Z"}},
    "manual": {"scheduler_type": "manual", "schedule_config": {}},
}

_ids = iter(range(1000, 1_000_000))


def twins(shape: str) -> tuple[ConfigRow, ConfigRow]:
    """Two configs alike but for their id (one for the single path, one for the bulk)."""
    return Cfg(next(_ids), **SHAPES[shape]), Cfg(next(_ids), **SHAPES[shape])


async def bring_to(svc: SchedulerService, config: ConfigRow, status: ScheduleStatus) -> None:
    await svc.on_created(config, actor=CLI)
    if status is ERROR:
        await svc.start(config._replace(task_type="no-such-type"), actor=CLI)
    elif status in (ACTIVE, PAUSED):
        await svc.start(config, actor=CLI)
        if status is PAUSED:
            await svc.pause(config, actor=CLI)


async def snapshot(svc: SchedulerService, redis: Redis, keys: Keys, cid: int) -> dict[str, Any]:
    """What a config has in Redis, with its own id and the moments made comparable."""
    state: dict[str, str] = await redis.hgetall(svc.state.status_key(cid))  # type: ignore[assignment]
    metadata = read_metadata(state)
    state = {k: v for k, v in state.items() if k != "metadata" and k[:2] not in ("m:", "j:")}
    assert INSTANT.match(state.pop("status_at", "")) or not state
    registered_at = metadata.pop("registered_at", None)
    assert registered_at is None or INSTANT.match(registered_at)
    metadata["name"] = (metadata.get("name") or "").replace(str(cid), "ID")
    history = []
    for raw in await redis.lrange(svc.state.event_log(cid), 0, -1):
        event = stored_event(raw)
        assert INSTANT.match(event.pop("timestamp"))
        details = event.get("details", {})
        for key in ("next_run_at", "due_at", "task_id"):
            if key in details:
                details[key] = "<" + key + ">"
        history.append(event)
    data = await svc.core.get_raw(cid)
    return {
        "state": state,
        "metadata": metadata,
        "registered_at": registered_at is not None,
        "history": history,
        "data": data.replace(str(cid), "ID") if data else None,
        "due": await redis.zscore(svc.core.due_key, cid) is not None,
        "sets": {
            str(s): await redis.sismember(keys.by_status(s), str(cid))
            for s in (ACTIVE, PAUSED, INACTIVE, ERROR)
        },
        "lock": await redis.exists(svc.locks.key(cid)),
    }


def outcome_of(outcome: Any, cid: int) -> dict[str, Any]:
    if isinstance(outcome, Refused):
        return {"code": status_of(outcome.error), "detail": outcome.detail.replace(str(cid), "ID")}
    return {
        "status": outcome.status,
        "message": outcome.message,
        "changed": outcome.changed,
        "success": outcome.success,
    }


CASES = [
    (shape, action, start)
    for shape in SHAPES
    for action in Action
    for start in (INACTIVE, ACTIVE, PAUSED, ERROR)
    if shape != "manual" or start is INACTIVE  # a manual config is only ever inactive
]


@pytest.mark.parametrize(("shape", "action", "start"), CASES)
async def test_each_action_from_each_status_leaves_what_the_single_call_leaves(
    svc: SchedulerService,
    redis: Redis,
    keys: Keys,
    shape: str,
    action: Action,
    start: ScheduleStatus,
) -> None:
    one, other = twins(shape)
    for config in (one, other):
        await bring_to(svc, config, start)
    try:
        single: Any = await svc.act(action, one, note="why", actor=CLI)
    except TaskplaneError as exc:  # the refusal, as the bulk path reports it
        single = refusal(one.id, exc)
    report = await svc.act_many(action, [other.id], {other.id: other}, note="why", actor=CLI)
    [bulked] = [*report.results, *report.errors]  # type: ignore[misc]
    assert outcome_of(bulked, other.id) == outcome_of(single, one.id)
    assert await snapshot(svc, redis, keys, other.id) == await snapshot(svc, redis, keys, one.id)


async def test_live_events_are_the_single_paths(svc: SchedulerService, redis: Redis) -> None:
    configs = [Cfg(next(_ids)) for _ in range(3)]
    async with redis.pubsub() as sub:
        await sub.subscribe(svc.state.live_event(None)[0])
        await sub.get_message(timeout=1)  # the subscription's confirmation
        await svc.on_created_many(configs, actor=CLI)
        await svc.start_many(configs, actor=CLI)
        await svc.act_many(Action.PAUSE, [configs[0].id], {configs[0].id: configs[0]}, actor=CLI)
        got: list[str] = []
        while len(got) < 7:
            message = await sub.get_message(ignore_subscribe_messages=True, timeout=2)
            assert message is not None, got
            got.append(json.loads(message["data"]))
    assert got == [  # the bulk scripts encode them with cjson: the same JSON objects
        *(json.loads(live_events.schedule_event(c.id, "inactive", "created")) for c in configs),
        *(json.loads(live_events.schedule_event(c.id, "active", "started")) for c in configs),
        json.loads(live_events.schedule_event(configs[0].id, "paused", "paused")),
    ]


async def test_on_created_many_is_on_created_for_each(
    svc: SchedulerService, redis: Redis, keys: Keys
) -> None:
    one, other = twins("cron")
    await svc.on_created(one, actor=CLI)
    await svc.on_created_many([other], actor=CLI)
    assert await snapshot(svc, redis, keys, other.id) == await snapshot(svc, redis, keys, one.id)
    await svc.start(other, actor=CLI)
    await svc.on_created_many([other], actor=CLI)  # state exists: left alone
    await svc.stop(other, actor=CLI)
    await svc.on_created_many([other], actor=CLI)
    await svc.start(one, actor=CLI)
    await svc.stop(one, actor=CLI)
    assert await snapshot(svc, redis, keys, other.id) == await snapshot(svc, redis, keys, one.id)


async def test_a_lock_lost_before_the_change_changes_nothing_for_that_config(
    svc: SchedulerService, redis: Redis, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between the two scripts another holder took a config's lock (ours ran out): that
    config is refused with the single path's 409, left as it was, its lock left to the
    other holder; the rest of the chunk goes on."""
    lost, kept = Cfg(next(_ids)), Cfg(next(_ids))
    await svc.on_created_many([lost, kept], actor=CLI)
    await svc.start_many([lost, kept], actor=CLI)
    before = await snapshot(svc, redis, keys, lost.id)
    begin = svc.bulk_script.begin

    async def and_lose_one(ids: Any, token: str) -> Any:
        read = await begin(ids, token)
        await redis.set(svc.locks.key(lost.id), "another-holder")
        return read

    monkeypatch.setattr(svc.bulk_script, "begin", and_lose_one)
    report = await svc.act_many(
        Action.PAUSE, [lost.id, kept.id], {lost.id: lost, kept.id: kept}, actor=CLI
    )
    assert [(e.config_id, status_of(e.error)) for e in report.errors] == [(lost.id, 409)]
    assert report.errors[0].detail == f"config {lost.id} is active; it changed meanwhile"
    assert [(r.config_id, r.status) for r in report.results] == [(kept.id, PAUSED)]
    assert await redis.get(svc.locks.key(lost.id)) == "another-holder"
    await redis.delete(svc.locks.key(lost.id))
    assert await snapshot(svc, redis, keys, lost.id) == before
    assert not await redis.exists(svc.locks.key(kept.id))


async def test_a_start_takes_one_round_trip_and_goes_under_the_locks_only_where_needed(
    svc: SchedulerService, redis: Redis, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A config nobody holds and nothing is registered for starts in one script; a busy
    one waits on the single path; a stray registration is replaced under the locks."""
    plain, busy, stray = (Cfg(next(_ids)) for _ in range(3))
    await svc.on_created_many([plain, busy, stray], actor=CLI)
    await svc.core.add(Cfg(stray.id, **SHAPES["cron"]), _spec(Cfg(stray.id, **SHAPES["cron"])))
    begun: list[list[int]] = []
    begin = svc.bulk_script.begin

    async def seen(ids: Any, token: str) -> Any:
        begun.append(list(ids))
        return await begin(ids, token)

    monkeypatch.setattr(svc.bulk_script, "begin", seen)

    async def hold() -> None:
        async with svc.locks.held(busy.id):
            await asyncio.sleep(0.2)

    holder = asyncio.create_task(hold())
    await asyncio.sleep(0.02)
    report = await svc.start_many([plain, busy, stray], actor=CLI)
    await holder
    assert begun == [[stray.id]]
    assert [(r.config_id, r.message) for r in report.results] == [
        (plain.id, "started"),
        (busy.id, "started"),
        (stray.id, "started"),
    ]
    stored = await svc.core.get(stray.id)  # the stray cron registration replaced
    assert stored is not None and stored.cron is None and stored.interval is not None


async def test_a_chunk_that_fails_before_its_change_changes_nothing_and_frees_its_locks(
    svc: SchedulerService, redis: Redis, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    configs = [Cfg(next(_ids)) for _ in range(3)]
    await svc.on_created_many(configs, actor=CLI)
    before = [await snapshot(svc, redis, keys, c.id) for c in configs]

    async def outage(*args: Any) -> Any:
        raise RedisConnectionError("the store went away")

    monkeypatch.setattr(svc.bulk_script, "apply", outage)
    with pytest.raises(RedisConnectionError):
        await svc.start_many(configs, actor=CLI)
    assert [await snapshot(svc, redis, keys, c.id) for c in configs] == before


async def test_a_stray_registration_is_replaced_as_the_single_path_replaces_it(
    svc: SchedulerService, redis: Redis, keys: Keys
) -> None:
    """Inactive but still registered as a cron (drift): starting it as an interval leaves
    the interval registration alone, as the single path does."""
    one, other = twins("interval")
    for config in (one, other):
        await svc.on_created(config, actor=CLI)
        cron = Cfg(config.id, **SHAPES["cron"])
        await svc.core.add(cron, _spec(cron))
    await svc.start(one, actor=CLI)
    await svc.start_many([other], actor=CLI)
    after = await snapshot(svc, redis, keys, other.id)
    assert after == await snapshot(svc, redis, keys, one.id)
    stored = await svc.core.get(other.id)
    assert stored is not None and stored.cron is None and stored.interval is not None


def _spec(config: ConfigRow) -> specs.Spec:
    return specs.parse(config.scheduler_type, config.schedule_config)


async def test_a_stop_of_an_inactive_config_removes_a_stray_registration(
    svc: SchedulerService, redis: Redis, keys: Keys
) -> None:
    config = Cfg(next(_ids))
    await svc.on_created(config, actor=CLI)
    await svc.core.add(config, _spec(config))
    report = await svc.act_many(Action.STOP, [config.id], {config.id: config}, actor=CLI)
    assert [r.message for r in report.results] == ["already inactive"]
    after = await snapshot(svc, redis, keys, config.id)
    assert (after["data"], after["due"]) == (None, False)


async def test_many_chunks_two_in_flight_keep_each_ids_outcome_in_order(
    svc: SchedulerService, redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk_run, "CHUNK", 3)
    configs = [Cfg(next(_ids)) for _ in range(10)]
    paused, manual, busy = configs[4], Cfg(next(_ids), **SHAPES["manual"]), configs[7]
    await svc.on_created_many([*configs, manual], actor=CLI)
    await svc.start(paused, actor=CLI)
    await svc.pause(paused, actor=CLI)
    ids = [c.id for c in configs]
    ids[2:2] = [manual.id, ids[0], 99_999_999]
    rows = {c.id: c for c in [*configs, manual]}

    async def hold() -> None:
        async with svc.locks.held(busy.id):
            await asyncio.sleep(0.3)

    holder = asyncio.create_task(hold())
    await asyncio.sleep(0.02)
    report = await svc.act_many(Action.START, ids, rows, actor=CLI)
    await holder
    assert [(e.config_id, status_of(e.error)) for e in report.errors] == [
        (manual.id, 409),
        (99_999_999, 404),
        (paused.id, 409),
    ]
    expected = [c.id for c in configs if c is not paused]
    expected[2:2] = [configs[0].id]  # the repeated id: the single call again ("already active")
    assert [r.config_id for r in report.results] == expected
    assert [r.message for r in report.results].count("already active") == 1
    assert {r.status for r in report.results} == {ACTIVE}  # the busy one too, after its wait
    assert await redis.zcard(svc.core.due_key) == 9


async def test_a_script_the_server_does_not_know_is_loaded_and_run(
    svc: SchedulerService, redis: Redis
) -> None:
    script = BulkScript(redis, svc.locks, svc.state, svc.core)
    script._begin = RawScript(redis, bulk_lua.BEGIN + f"-- {uuid.uuid4().hex}\n")
    assert not (await redis.script_exists(script._begin.sha))[0]
    config = Cfg(next(_ids))
    assert await script.begin([config.id], "token") == [(True, None)]
    assert (await redis.script_exists(script._begin.sha))[0]
    await svc.locks.release_many({config.id: "token"})


async def test_a_client_that_does_not_decode_replies_gets_the_same_outcomes(
    svc: SchedulerService, settings: Settings, registry: TaskRegistry, keys: Keys
) -> None:
    raw = Redis.from_url(settings.redis_url.get_secret_value(), decode_responses=False)
    try:
        plain = SchedulerService(raw, keys, registry)
        configs = [Cfg(next(_ids)) for _ in range(2)]
        await svc.on_created_many(configs, actor=CLI)
        started = await plain.start_many(configs, actor=CLI)
        assert [(r.status, r.message) for r in started.results] == [(ACTIVE, "started")] * 2
        again = await plain.start_many(configs, actor=CLI)
        assert [r.message for r in again.results] == ["already active"] * 2
        rows = {c.id: c for c in configs}
        paused = await plain.act_many(Action.PAUSE, list(rows), rows, actor=CLI)
        assert [(r.status, r.message) for r in paused.results] == [(PAUSED, "paused")] * 2
        refused = await plain.act_many(Action.PAUSE, list(rows), rows, actor=CLI)
        assert [e.detail for e in refused.errors] == [
            f"config {c.id} is paused; only an active schedule can be paused" for c in configs
        ]
    finally:
        await raw.aclose()
