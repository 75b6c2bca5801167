"""SchedulerService against real Redis and PostgreSQL: the transition table, immediate and
manual runs, updates, deletion, completion, concurrency and reconcile."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taskplane import messages
from taskplane.actors import CLI
from taskplane.db import configs
from taskplane.db.configs import ConfigRow
from taskplane.enums import Action, SchedulerType, ScheduleStatus, Trigger
from taskplane.errors import Conflict
from taskplane.resources import make_redis
from taskplane.scheduling import specs
from taskplane.scheduling.service import SchedulerService
from taskplane.settings import Settings
from taskplane.state.keys import Keys
from tests.scheduling.configs import CRON, MakeConfig
from tests.stored_registrations import drop
from tests.support import stream_entries

ACTIVE, PAUSED, INACTIVE, ERROR = (
    ScheduleStatus.ACTIVE,
    ScheduleStatus.PAUSED,
    ScheduleStatus.INACTIVE,
    ScheduleStatus.ERROR,
)


async def events(svc: SchedulerService, cid: int) -> list[str]:
    got, _ = await svc.state.history(cid, limit=1000)
    return [e.event for e in got]


async def stream(redis: Redis, keys: Keys, queue: str = "default") -> list[dict[str, Any]]:
    rows = await stream_entries(redis, keys.broker_stream(queue))
    return [json.loads(fields["data"]) for _, fields in rows]


async def bring_to(svc: SchedulerService, config: ConfigRow, status: ScheduleStatus) -> None:
    if status is INACTIVE:
        return
    if status is ERROR:
        # registration fails -> error (not saved to the DB)
        result = await svc.start(config._replace(task_type="no-such-type"), actor=CLI)
        assert not result.success and result.status is ERROR
        return
    await svc.start(config, actor=CLI)
    if status is PAUSED:
        await svc.pause(config, actor=CLI)
    assert (await svc.info(config)).status is status


async def assert_consistent(svc: SchedulerService, config: ConfigRow) -> None:
    info = await svc.info(config)
    assert info.status_consistent, info
    assert info.is_actually_scheduled == (info.status is ACTIVE)


# action, from, expected status (None = 409), expected event (None = no event)
TABLE = [
    (Action.START, INACTIVE, ACTIVE, "started"),
    (Action.START, ERROR, ACTIVE, "started"),
    (Action.START, ACTIVE, ACTIVE, None),
    (Action.START, PAUSED, None, None),
    (Action.STOP, ACTIVE, INACTIVE, "stopped"),
    (Action.STOP, PAUSED, INACTIVE, "stopped"),
    (Action.STOP, ERROR, INACTIVE, "stopped"),
    (Action.STOP, INACTIVE, INACTIVE, None),
    (Action.PAUSE, ACTIVE, PAUSED, "paused"),
    (Action.PAUSE, PAUSED, None, None),
    (Action.PAUSE, INACTIVE, None, None),
    (Action.PAUSE, ERROR, None, None),
    (Action.RESUME, PAUSED, ACTIVE, "resumed"),
    (Action.RESUME, ACTIVE, None, None),
    (Action.RESUME, INACTIVE, None, None),
    (Action.RESUME, ERROR, None, None),
    (Action.RELOAD, ACTIVE, ACTIVE, "reloaded"),
    (Action.RELOAD, PAUSED, None, None),
    (Action.RELOAD, INACTIVE, None, None),
    (Action.RELOAD, ERROR, None, None),
]


@pytest.mark.parametrize(("action", "start", "expected", "event"), TABLE)
async def test_transition_table(
    svc: SchedulerService,
    make_config: MakeConfig,
    action: Action,
    start: ScheduleStatus,
    expected: ScheduleStatus | None,
    event: str | None,
) -> None:
    config = await make_config()
    await bring_to(svc, config, start)
    before = await events(svc, config.id)
    if expected is None:
        with pytest.raises(Conflict, match=str(start)):
            await svc.act(action, config, note="n", actor=CLI)
        assert (await svc.info(config)).status is start
        assert await events(svc, config.id) == before  # a refused action changes nothing
    else:
        result = await svc.act(action, config, note="why", actor=CLI)
        assert result.success and result.status is expected
        info = await svc.info(config)
        assert info.status is expected
        after = await events(svc, config.id)
        if event is None:
            assert after == before and not result.changed
            assert "already" in result.message
        else:
            assert after == [event, *before]
            assert info.recent_history[0].note == "why"
            assert info.note == "why"
    await assert_consistent(svc, config)


@pytest.mark.parametrize("action", [Action.START, Action.PAUSE, Action.RESUME, Action.RELOAD])
async def test_manual_config_refuses_schedule_actions(
    svc: SchedulerService, make_config: MakeConfig, action: Action
) -> None:
    config = await make_config(SchedulerType.MANUAL, {})
    with pytest.raises(Conflict, match="manual"):
        await svc.act(action, config, actor=CLI)
    info = await svc.info(config)
    assert info.status is INACTIVE and not info.is_actually_scheduled
    assert await events(svc, config.id) == ["created"]


async def test_manual_config_stop_is_ok_and_next_runs_empty(
    svc: SchedulerService, make_config: MakeConfig
) -> None:
    config = await make_config(SchedulerType.MANUAL, {})
    result = await svc.stop(config, actor=CLI)
    assert result.success and result.status is INACTIVE
    info = await svc.info(config)
    assert info.next_runs == [] and info.next_run_at is None and info.status_consistent


async def test_created_state_and_info_of_an_active_cron(
    svc: SchedulerService, make_config: MakeConfig
) -> None:
    config = await make_config()
    info = await svc.info(config)
    assert info.status is INACTIVE and info.recent_history[0].event == "created"
    assert info.metadata["name"] == config.name and info.metadata["task_type"] == "echo"
    assert info.next_runs == []
    await svc.start(config, actor=CLI)
    info = await svc.info(config)
    assert info.is_scheduled and info.is_actually_scheduled and info.status_consistent
    assert info.next_run_at is not None and info.next_run_at > datetime.now(UTC)
    assert len(info.next_runs) == 5 and info.next_runs[0] == info.next_run_at
    gaps = {b - a for a, b in zip(info.next_runs, info.next_runs[1:], strict=False)}
    assert gaps == {timedelta(minutes=5)}
    assert info.metadata["registered_at"] is not None
    assert info.schedule == "cron */5 * * * * (Europe/Berlin)"


async def test_interval_start_sends_immediate_then_every_interval(
    svc: SchedulerService, make_config: MakeConfig, redis: Redis, keys: Keys
) -> None:
    config = await make_config(SchedulerType.INTERVAL, {"seconds": 60})
    before = datetime.now(UTC)
    await svc.start(config, actor=CLI)
    sent = await stream(redis, keys)
    assert len(sent) == 1  # on the broker when start returns
    assert sent[0]["labels"]["trigger"] == "immediate"
    assert sent[0]["task_name"] == "taskplane:echo" and sent[0]["kwargs"] == {"message": "hi"}
    history, _ = await svc.state.history(config.id)
    assert [e.event for e in history] == ["fired", "started", "created"]
    assert history[0].details["trigger"] == "immediate"
    assert history[0].details["task_id"] == sent[0]["task_id"]
    info = await svc.info(config)
    assert info.next_run_at is not None
    assert (
        before + timedelta(seconds=59)
        <= info.next_run_at
        <= datetime.now(UTC) + timedelta(seconds=60)
    )
    assert info.next_runs[1] - info.next_runs[0] == timedelta(seconds=60)
    # pause / resume: it becomes active again, so it runs at once again
    await svc.pause(config, actor=CLI)
    await svc.resume(config, actor=CLI)
    assert [m["labels"]["trigger"] for m in await stream(redis, keys)] == ["immediate"] * 2


async def test_interval_without_run_immediately_sends_nothing(
    svc: SchedulerService, make_config: MakeConfig, redis: Redis, keys: Keys
) -> None:
    config = await make_config(SchedulerType.INTERVAL, {"seconds": 30, "run_immediately": False})
    await svc.start(config, actor=CLI)
    assert await stream(redis, keys) == []
    assert await events(svc, config.id) == ["started", "created"]


async def test_run_now_in_any_status_and_batch_with_errors(
    svc: SchedulerService, make_config: MakeConfig, redis: Redis, keys: Keys
) -> None:
    a = await make_config(priority=7, max_retries=3, timeout_seconds=12)
    b = await make_config(SchedulerType.MANUAL, {})
    await svc.start(a, actor=CLI)
    await svc.pause(a, actor=CLI)
    task_id = await svc.run_now(a, note="by hand", actor=CLI)
    sent = await stream(redis, keys)
    assert [m["task_id"] for m in sent] == [task_id]
    labels = sent[0]["labels"]
    assert labels["trigger"] == "manual" and labels["config_id"] == a.id
    assert (labels["priority"], labels["max_retries"], labels["timeout_seconds"]) == (7, 3, 12)
    history, _ = await svc.state.history(a.id)
    assert history[0].event == "run_requested" and history[0].note == "by hand"
    assert history[0].details == {"task_id": task_id, "trigger": "manual"}
    assert (await svc.info(a)).status is PAUSED  # a run by hand changes no status

    ghost = (await make_config(SchedulerType.MANUAL, {}))._replace(task_type="no-such-type")
    report = await svc.batch_report([a, ghost, b], actor=CLI)
    assert [cid for cid, _ in report.dispatched] == [a.id, b.id]
    assert [cid for cid, _ in report.errors] == [ghost.id]
    batch = [m for m in await stream(redis, keys) if m["labels"]["trigger"] == "batch"]
    assert sorted(m["task_id"] for m in batch) == sorted(t for _, t in report.dispatched)
    assert (await events(svc, b.id))[0] == "run_requested"
    ids = await svc.batch_run([a, b], actor=CLI)
    assert len(ids) == 2 and len(set(ids)) == 2


async def test_update_of_active_config_replaces_schedule(
    svc: SchedulerService,
    make_config: MakeConfig,
    sessions: async_sessionmaker[AsyncSession],
    redis: Redis,
    keys: Keys,
) -> None:
    config = await make_config()
    await svc.start(config, actor=CLI)
    async with sessions() as session, session.begin():
        row = await configs.update(
            session, config.id, {"schedule_config": {"cron_expression": "0 3 * * *"}}
        )
    assert row is not None
    result = await svc.on_updated(row, {"schedule_config"}, actor=CLI)
    assert result.status is ACTIVE
    spec = await svc.core.get_spec(config.id)
    assert spec is not None and spec.cron == "0 3 * * *" and spec.timezone == "UTC"
    assert (await events(svc, config.id))[:2] == ["updated", "started"]
    info = await svc.info(row)
    assert info.status_consistent and info.next_run_at is not None
    assert info.next_run_at.hour == 3 and info.next_run_at.minute == 0
    # an active config becoming an interval runs at once
    async with sessions() as session, session.begin():
        row = await configs.update(
            session,
            config.id,
            {"scheduler_type": SchedulerType.INTERVAL, "schedule_config": {"seconds": 10}},
        )
    assert row is not None
    await svc.on_updated(row, {"scheduler_type", "schedule_config"}, actor=CLI)
    assert [m["labels"]["trigger"] for m in await stream(redis, keys)] == ["immediate"]
    stored = await svc.core.get(config.id)
    assert stored is not None and stored.interval == 10 and stored.cron is None
    # a rename only: no re-registration, no run
    result = await svc.on_updated(row, {"name"}, actor=CLI)
    assert not result.changed and len(await stream(redis, keys)) == 1
    # becoming manual stops it
    row = row._replace(scheduler_type=SchedulerType.MANUAL, schedule_config={})
    result = await svc.on_updated(row, {"scheduler_type", "schedule_config"}, actor=CLI)
    assert result.status is INACTIVE
    await assert_consistent(svc, row)


async def test_update_with_reload_registers_the_row_read_under_the_lock(
    svc: SchedulerService, make_config: MakeConfig, sessions: async_sessionmaker[AsyncSession]
) -> None:
    config = await make_config()
    await svc.start(config, actor=CLI)
    async with sessions() as session, session.begin():
        await configs.update(
            session, config.id, {"schedule_config": {"cron_expression": "0 4 * * *"}}
        )

    async def latest() -> ConfigRow | None:
        async with sessions() as session:
            return await configs.find(session, config.id)

    # `config` is the stale object the caller held; reload wins
    result = await svc.on_updated(config, {"schedule_config"}, reload=latest, actor=CLI)
    assert result.status is ACTIVE
    spec = await svc.core.get_spec(config.id)
    assert spec is not None and spec.cron == "0 4 * * *"

    async def gone() -> ConfigRow | None:
        return None

    before = await events(svc, config.id)
    result = await svc.on_updated(config, {"schedule_config"}, reload=gone, actor=CLI)
    assert not result.changed and await events(svc, config.id) == before
    spec = await svc.core.get_spec(config.id)
    assert spec is not None and spec.cron == "0 4 * * *"  # untouched


async def test_update_of_inactive_config_only_records(
    svc: SchedulerService, make_config: MakeConfig
) -> None:
    config = await make_config()
    result = await svc.on_updated(config, {"parameters"}, note="new params", actor=CLI)
    assert result.status is INACTIVE and not (await svc.info(config)).is_actually_scheduled
    assert await events(svc, config.id) == ["updated", "created"]


async def test_delete_removes_schedule_state_and_history(
    svc: SchedulerService, make_config: MakeConfig, redis: Redis, keys: Keys
) -> None:
    config = await make_config(SchedulerType.INTERVAL, {"seconds": 5})
    await svc.start(config, actor=CLI)
    await svc.on_deleted(config.id)
    left = {k async for k in redis.scan_iter(match=f"{keys.prefix}*")}
    assert left == {  # the immediate run's message, and the audit trail: it outlives configs
        keys.broker_stream("default"),
        keys.audit,
        keys.audit_by_config(config.id),
        keys.audit_by_actor("cli"),
    }
    assert (await svc.state.summary()).total == 0


async def test_date_schedule_completes_once(svc: SchedulerService, make_config: MakeConfig) -> None:
    run_at = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    config = await make_config(SchedulerType.DATE, {"run_date": run_at.isoformat()})
    await svc.start(config, actor=CLI)
    info = await svc.info(config)
    assert info.next_runs == [run_at] and info.next_run_at == run_at
    result = await svc.complete(config.id)
    assert result.success and result.status is INACTIVE
    info = await svc.info(config)
    assert info.status is INACTIVE and not info.is_actually_scheduled and info.status_consistent
    assert info.next_runs == []
    assert (await events(svc, config.id))[:2] == ["completed", "started"]
    again = await svc.complete(config.id)
    assert not again.changed and (await events(svc, config.id))[0] == "completed"


async def test_start_of_a_date_in_the_past_is_an_error_with_reason(
    svc: SchedulerService, make_config: MakeConfig
) -> None:
    config = await make_config(
        SchedulerType.DATE, {"run_date": (datetime.now(UTC) + timedelta(days=1)).isoformat()}
    )
    config = config._replace(schedule_config={"run_date": "2020-01-01T00:00:00Z"})
    result = await svc.start(config, actor=CLI)
    assert not result.success and result.status is ERROR
    history, _ = await svc.state.history(config.id)
    assert history[0].event == "error" and "past" in history[0].details["reason"]
    await assert_consistent(svc, config)


async def test_fifty_concurrent_mixed_actions_stay_consistent(
    svc: SchedulerService, make_config: MakeConfig, settings: Settings
) -> None:
    config = await make_config()
    actions = [Action.START, Action.PAUSE, Action.RESUME, Action.RELOAD, Action.STOP] * 10
    event_of = {
        Action.START: "started",
        Action.STOP: "stopped",
        Action.PAUSE: "paused",
        Action.RESUME: "resumed",
        Action.RELOAD: "reloaded",
    }

    async def one(action: Action) -> tuple[Action, bool]:
        try:
            result = await svc.act(action, config, actor=CLI)
        except Conflict:
            return action, False
        return action, result.changed

    outcomes = await asyncio.gather(*(one(a) for a in actions))
    # a second service on its own connection pool, as a second API process would be
    other_client = make_redis(settings)
    try:
        other = SchedulerService(other_client, svc.keys, svc.registry)

        async def two(action: Action, i: int) -> tuple[Action, bool]:
            target = other if i % 2 else svc
            try:
                result = await target.act(action, config, actor=CLI)
            except Conflict:
                return action, False
            return action, result.changed

        outcomes += await asyncio.gather(*(two(a, i) for i, a in enumerate(actions)))
    finally:
        await other_client.aclose()
        await other_client.connection_pool.disconnect()
    applied = Counter(event_of[a] for a, changed in outcomes if changed)
    assert sum(applied.values()) > 0
    history = await events(svc, config.id)
    assert history[-1] == "created"
    assert Counter(history[:-1]) == applied
    await assert_consistent(svc, config)
    assert (await svc.state.summary()).total == 1


async def test_schedule_removed_behind_the_back_is_reported_and_repaired(
    svc: SchedulerService, make_config: MakeConfig, redis: Redis, keys: Keys
) -> None:
    config = await make_config()
    await svc.start(config, actor=CLI)
    await drop(redis, keys, config.id)
    await redis.zrem(keys.due, str(config.id))
    info = await svc.info(config)
    assert info.status is ACTIVE and not info.is_actually_scheduled
    assert not info.status_consistent
    report = await svc.reconcile([config])
    assert [(r.config_id, r.status) for r in report.repairs] == [(config.id, ACTIVE)]
    info = await svc.info(config)
    assert info.status_consistent and info.is_actually_scheduled and info.next_run_at
    history, _ = await svc.state.history(config.id)
    assert history[0].event == "repaired" and history[0].details["reason"] == "schedule missing"
    assert (await svc.reconcile([config])).repairs == []  # nothing left to repair


async def test_reconcile_repairs_every_kind_of_drift(
    svc: SchedulerService, make_config: MakeConfig, redis: Redis, keys: Keys
) -> None:
    paused = await make_config()
    await bring_to(svc, paused, PAUSED)
    stale = await make_config()
    await svc.start(stale, actor=CLI)
    lost = await make_config()
    fired = await make_config(
        SchedulerType.DATE, {"run_date": (datetime.now(UTC) + timedelta(hours=1)).isoformat()}
    )
    await svc.start(fired, actor=CLI)
    fine = await make_config()
    await svc.start(fine, actor=CLI)
    nodue = await make_config()
    await svc.start(nodue, actor=CLI)
    fired_left = await make_config(
        SchedulerType.DATE, {"run_date": (datetime.now(UTC) + timedelta(hours=1)).isoformat()}
    )
    await svc.start(fired_left, actor=CLI)
    # drift made behind the service's back
    spec = specs.parse(SchedulerType.CRON, CRON)
    await svc.core.add(paused, spec)  # registered while paused
    stale = stale._replace(
        schedule_config={"cron_expression": "0 1 * * *"}
    )  # config changed, not reloaded
    await redis.delete(keys.schedule(lost.id), keys.history(lost.id))  # state lost
    await svc.core.add(lost, spec)
    await svc.core.remove(fired.id)  # fired and gone, and its date has passed
    fired = fired._replace(schedule_config={"run_date": "2020-01-01T00:00:00Z"})
    await redis.zrem(keys.due, str(nodue.id))  # registered, but would never fire
    await redis.zrem(keys.due, str(fired_left.id))  # fired; completing it did not happen
    fired_left = fired_left._replace(schedule_config={"run_date": "2020-01-01T00:00:00Z"})
    orphan = await make_config()
    await svc.start(orphan, actor=CLI)
    every = [paused, stale, lost, fired, fine, nodue, fired_left]  # `orphan` has no config

    report = await svc.reconcile(every)
    repaired = {r.config_id: r.status for r in report.repairs}
    assert repaired == {
        paused.id: PAUSED,
        stale.id: ACTIVE,
        lost.id: INACTIVE,
        fired.id: INACTIVE,
        nodue.id: ACTIVE,
        fired_left.id: INACTIVE,
    }
    reasons = {r.config_id: r.reason for r in report.repairs}
    assert reasons[nodue.id] == "due time missing" and reasons[fired_left.id] == "date passed"
    assert await svc.core.next_due(nodue.id) is not None
    assert not await svc.core.is_registered(fired_left.id)
    assert report.orphans_removed == [orphan.id]
    infos = await svc.infos(every)
    assert all(i.status_consistent for i in infos.values()), infos
    stored = await svc.core.get_spec(stale.id)
    assert stored is not None and stored.cron == "0 1 * * *"
    assert await svc.state.get(orphan.id) is None and not await svc.core.is_registered(orphan.id)
    for c in (paused, stale, lost, fired, nodue, fired_left):
        assert (await events(svc, c.id))[0] == "repaired"
    assert "repaired" not in await events(svc, fine.id)
    again = await svc.reconcile(every)
    assert again.repairs == [] and again.orphans_removed == []


async def test_message_labels_match_the_broker_contract(
    svc: SchedulerService, make_config: MakeConfig, redis: Redis, keys: Keys
) -> None:
    config = await make_config(SchedulerType.MANUAL, {})
    task_id = await svc.run_now(config, trigger=Trigger.MANUAL, actor=CLI)
    (raw,) = await stream_entries(redis, keys.broker_stream("default"))
    message = messages.decode(raw[1]["data"])
    assert message.task_id == task_id
    assert set(message.labels) >= {
        "config_id",
        "task_type",
        "trigger",
        "attempt",
        "max_retries",
        "priority",
        "queue",
    }


async def test_reconcile_all_reads_every_config_from_the_database(
    svc: SchedulerService,
    make_config: MakeConfig,
    sessions: async_sessionmaker[AsyncSession],
    redis: Redis,
    keys: Keys,
) -> None:
    kept = await make_config()
    await svc.start(kept, actor=CLI)
    await drop(redis, keys, kept.id)
    gone = await make_config()
    await svc.start(gone, actor=CLI)
    async with sessions() as session, session.begin():
        await configs.delete(session, gone.id)  # deleted without telling the service
    report = await svc.reconcile_all(sessions)
    assert report.checked == 1
    assert [r.config_id for r in report.repairs] == [kept.id]
    assert report.orphans_removed == [gone.id]
    assert (await svc.info(kept)).status_consistent
