"""Who did it, for what the system does itself: the engine's events say ``scheduler`` (the
fire script's and the misfire events built in Python alike, and a date schedule's
completion), reconcile's say ``reconcile``; none of them is an audit entry. An action's
actor is the one passed down (``actors.py``), audited when it is a caller's."""

from __future__ import annotations

from redis.asyncio import Redis

from taskplane.actors import CLI, RECONCILE, Actor
from taskplane.enums import SchedulerType
from taskplane.scheduling.service import SchedulerService
from taskplane.state.audit_pages import AuditQuery
from taskplane.state.keys import Keys
from tests.scheduling.configs import MakeConfig
from tests.scheduling.registrations import interval, register
from tests.scheduling.test_engine import T0, FakeClock, history, make_engine
from tests.stored_registrations import drop


async def test_the_engines_events_name_the_scheduler_and_are_not_audited(
    redis: Redis, keys: Keys
) -> None:
    clock = FakeClock()
    engine = make_engine(redis, keys, clock)
    await register(redis, keys, 7, interval(10, misfire="skip"), T0)
    await register(redis, keys, 8, interval(10), T0)
    await redis.hset(keys.schedule(7), "status", "active")  # events need state
    await redis.hset(keys.schedule(8), "status", "active")
    clock.advance(0.2)
    await engine.tick()  # 8 fires (the fire script's event)
    clock.advance(3600)
    await engine.tick()  # 7 missed its dues for an hour: a misfire `skipped` built in Python
    fired = await history(redis, keys, 8)
    skipped = await history(redis, keys, 7)
    assert "fired" in {e["event"] for e in fired}
    assert "skipped" in {e["event"] for e in skipped}
    assert {e["actor"] for e in fired + skipped} == {"scheduler"}
    assert await redis.xlen(keys.audit) == 0


async def test_reconcile_repairs_name_reconcile(
    svc: SchedulerService, make_config: MakeConfig, redis: Redis, keys: Keys
) -> None:
    config = await make_config()
    await svc.start(config, actor=CLI)
    await drop(redis, keys, config.id)
    await redis.zrem(keys.due, str(config.id))
    audited = await redis.xlen(keys.audit)
    report = await svc.reconcile([config])
    assert [r.config_id for r in report.repairs] == [config.id]
    events, _ = await svc.state.history(config.id)
    assert (events[0].event, events[0].actor) == ("repaired", RECONCILE.name)
    assert (events[1].event, events[1].actor) == ("started", "cli")
    assert await redis.xlen(keys.audit) == audited  # the system's own repair: no entry


async def test_a_date_schedule_is_completed_by_the_scheduler(
    svc: SchedulerService, make_config: MakeConfig
) -> None:
    config = await make_config(SchedulerType.DATE, {"run_date": "2099-01-01T00:00:00+00:00"})
    await svc.start(config, actor=Actor.token("release-bot"))
    assert (await svc.complete(config.id)).changed
    events, _ = await svc.state.history(config.id)
    assert [(e.event, e.actor) for e in events[:2]] == [
        ("completed", "scheduler"),
        ("started", "release-bot"),
    ]
    page = await svc.state.audit.page(AuditQuery(config_id=config.id))
    assert [(r.action, r.actor) for r in page.items] == [
        ("started", "release-bot"),
        ("created", "cli"),  # make_config announces it as the CLI would
    ]


async def test_a_create_that_is_undone_leaves_no_audit_entry(
    svc: SchedulerService, make_config: MakeConfig, redis: Redis, keys: Keys
) -> None:
    kept = await make_config()
    undone = await make_config()
    await svc.start(undone, actor=CLI)
    assert (await svc.state.audit.page(AuditQuery(config_id=undone.id))).total == 2
    await svc.on_deleted(undone.id, forget_audit=True)  # what a failed create's undo does
    assert (await svc.state.audit.page(AuditQuery(config_id=undone.id))).items == []
    everything = await svc.state.audit.page(AuditQuery())
    assert [(r.action, r.config_id) for r in everything.items] == [("created", kept.id)]
    assert await redis.xlen(keys.audit_by_actor("cli")) == 1
