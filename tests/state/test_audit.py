"""The audit trail against a real Redis: capped by count and by age, indexes that expire,
nothing for the system's own actors, and pages read by id range."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis

from taskplane.actors import CLI, SCHEDULER, WORKER, Actor
from taskplane.epoch import to_ms
from taskplane.state.audit import AuditEntry, AuditLog
from taskplane.state.audit_pages import AuditQuery
from taskplane.state.keys import Keys


async def test_the_trail_keeps_at_most_max_entries(redis: Redis, keys: Keys) -> None:
    audit = AuditLog(redis, keys, max_entries=5)
    for n in range(12):
        await audit.record(CLI, "run_requested", 1 + n % 2, f"cfg-{n % 2}", details={"n": n})
    assert await redis.xlen(keys.audit) == 5
    page = await audit.page(AuditQuery(limit=50))
    assert page.total == 5
    assert [r.details["n"] for r in page.items] == [11, 10, 9, 8, 7]
    assert await redis.xlen(keys.audit_by_actor("cli")) == 5
    # an index keeps ids the main stream trimmed only until read: they end its page
    by_config = await audit.page(AuditQuery(config_id=1, limit=50))
    assert [r.details["n"] for r in by_config.items] == [10, 8]


async def test_entries_older_than_the_retention_are_left_out_then_trimmed(
    redis: Redis, keys: Keys
) -> None:
    audit = AuditLog(redis, keys, retention_days=90)
    old_ms = to_ms(datetime.now(UTC) - timedelta(days=91))
    for n in range(3):  # entries written 91 days ago (their ids say when)
        entry = AuditEntry("cli", "created", n + 1, f"cfg-{n}")
        await redis.xadd(keys.audit, {"e": entry.to_json()}, id=f"{old_ms}-{n}")
        await redis.xadd(keys.audit_by_config(n + 1), {"a": "cli"}, id=f"{old_ms}-{n}")
    page = await audit.page(AuditQuery())
    assert (page.items, page.total) == ([], 0)
    assert (await audit.page(AuditQuery(config_id=1))).total == 0
    fresh = AuditLog(redis, keys, retention_days=365)  # a longer retention shows them
    assert (await fresh.page(AuditQuery())).total == 3
    await audit.record(CLI, "created", 9, "cfg-9")  # a write trims by age
    assert await redis.xlen(keys.audit) == 1
    assert [r.config_id for r in (await audit.page(AuditQuery())).items] == [9]


async def test_indexes_expire_with_the_retention(redis: Redis, keys: Keys) -> None:
    audit = AuditLog(redis, keys, retention_days=2)
    await audit.record(Actor.token("ops"), "paused", 3, "cfg-3", note="why")
    for key in (keys.audit_by_config(3), keys.audit_by_actor("ops")):
        ttl = await redis.pttl(key)
        assert 2 * 86_400_000 - 60_000 < ttl <= 2 * 86_400_000
    assert await redis.ttl(keys.audit) == -1  # the trail itself is trimmed, never expired
    [entry] = (await audit.page(AuditQuery(actor="ops"))).items
    assert (entry.action, entry.config_name, entry.note) == ("paused", "cfg-3", "why")


async def test_the_systems_own_actors_record_nothing(redis: Redis, keys: Keys) -> None:
    audit = AuditLog(redis, keys)
    assert await audit.record(SCHEDULER, "started", 1, "cfg") is None
    assert await audit.record(WORKER, "started", 1, "cfg") is None
    assert await redis.exists(keys.audit) == 0


async def test_ids_are_increasing_and_the_cursor_is_exclusive(redis: Redis, keys: Keys) -> None:
    audit = AuditLog(redis, keys)
    ids = await audit.record_many(
        CLI,
        [AuditEntry("cli", "run_requested", 5, "five") for _ in range(4)],
    )
    assert ids == sorted(ids, key=lambda i: tuple(map(int, i.split("-"))))
    assert len(set(ids)) == 4
    page = await audit.page(AuditQuery(after=ids[2]))
    assert [r.id for r in page.items] == [ids[1], ids[0]]
    assert page.total == 4
    assert (await audit.page(AuditQuery(after=ids[0]))).items == []
