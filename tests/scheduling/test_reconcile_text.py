"""Reconcile compares a stored registration's text with what ``core.encode`` writes and
decodes it only when the texts differ: the same task in other text is not stale, other task
is, and unreadable text is left as before (not stale)."""

from __future__ import annotations

import json

from redis.asyncio import Redis

from taskplane.actors import CLI
from taskplane.db.configs import ConfigRow
from taskplane.enums import ScheduleStatus
from taskplane.scheduling.decisions import spec_or_none
from taskplane.scheduling.service import SchedulerService
from taskplane.state.keys import Keys
from tests.scheduling.configs import MakeConfig
from tests.stored_registrations import UNREADABLE, put_text, stored_text


async def started(svc: SchedulerService, make_config: MakeConfig) -> ConfigRow:
    config = await make_config()
    await svc.start(config, actor=CLI)
    return config


async def test_same_task_in_other_text_is_not_repaired(
    svc: SchedulerService, make_config: MakeConfig, redis: Redis, keys: Keys
) -> None:
    config = await started(svc, make_config)
    text = await stored_text(redis, keys, config.id)
    assert text is not None
    stored = json.loads(text)
    reordered = json.dumps(dict(reversed(list(stored.items()))), indent=1)
    await put_text(redis, keys, config.id, reordered)
    value = await redis.hget(keys.schedule(config.id), "r")

    report = await svc.reconcile([config], remove_orphans=False)

    assert report.repairs == []
    assert await redis.hget(keys.schedule(config.id), "r") == value


async def test_other_parameters_are_repaired(
    svc: SchedulerService, make_config: MakeConfig, redis: Redis, keys: Keys
) -> None:
    config = await started(svc, make_config)
    config = config._replace(parameters={"message": "changed behind the service's back"})

    report = await svc.reconcile([config], remove_orphans=False)

    assert [(r.config_id, r.reason, r.status) for r in report.repairs] == [
        (config.id, "schedule differs from config", ScheduleStatus.ACTIVE)
    ]
    task = await svc.core.get(config.id)
    assert task is not None and task.kwargs == config.parameters
    assert (await svc.reconcile([config], remove_orphans=False)).repairs == []


async def test_unreadable_text_is_left_alone(
    svc: SchedulerService, make_config: MakeConfig, redis: Redis, keys: Keys
) -> None:
    config = await started(svc, make_config)
    await put_text(redis, keys, config.id, "{not json")

    report = await svc.reconcile([config], remove_orphans=False)

    assert report.repairs == []
    assert await redis.hget(keys.schedule(config.id), "r") == UNREADABLE


async def test_texts_of_the_previous_formats_are_not_repaired(
    svc: SchedulerService, make_config: MakeConfig, redis: Redis, keys: Keys
) -> None:
    """The previous versions stored every label: taskiq's serializer's dump (spaced, every
    null field), then that dump compact (no spaces, no null field). Either decodes to the
    task the compact text does (what it leaves out is restored), so an upgrade leaves it
    as it is."""
    config = await started(svc, make_config)
    text = await stored_text(redis, keys, config.id)
    assert text is not None and ": " not in text and "null" not in text
    assert '"trigger"' not in text and '"schedule_id"' not in text  # left out, restored
    task, spec = svc.core.decode(text), spec_or_none(config)
    assert task is not None and spec is not None and task == svc.core.build(config, spec)
    dumped = task.model_dump(mode="json")
    spaced = json.dumps(dumped)  # taskiq's JSONSerializer's dump
    compact = json.dumps({k: v for k, v in dumped.items() if v is not None}, separators=(",", ":"))
    assert '"time": null' in spaced and '"trigger":"scheduled"' in compact
    for previous in (spaced, compact):
        await put_text(redis, keys, config.id, previous)
        value = await redis.hget(keys.schedule(config.id), "r")

        report = await svc.reconcile([config], remove_orphans=False)

        assert report.repairs == []
        assert await redis.hget(keys.schedule(config.id), "r") == value
        assert await svc.core.get(config.id) == task
