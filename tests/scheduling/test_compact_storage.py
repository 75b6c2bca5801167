"""What one registered schedule holds in Redis stays small, by the bulk path
(``start_many``, B11's) and the single path alike: the state hash in Redis's compact
encoding (each value ≤ 64 bytes: a listpack on Redis 7, a ziplist on 6.2), the registration
text compact (no spaces, no null field, no label a reader restores) and the same model,
the history event without a null note; and what the API reads back is what it read
before."""

from __future__ import annotations

import json
from typing import Any

import pytest
from redis.asyncio import Redis

from taskplane.actors import CLI
from taskplane.scheduling import specs
from taskplane.scheduling.decisions import metadata_of
from taskplane.scheduling.service import SchedulerService
from taskplane.state.keys import Keys
from tests.scheduling.registrations import Config
from tests.stored_registrations import stored_text

COMPACT = ("listpack", "ziplist")
SHAPES: list[dict[str, Any]] = [
    {"scheduler_type": "interval", "schedule_config": {"seconds": 60, "run_immediately": False}},
    {"scheduler_type": "cron", "schedule_config": {"cron_expression": "*/5 * * * *"}},
]


@pytest.mark.parametrize("bulk", [True, False], ids=["start_many", "start"])
@pytest.mark.parametrize("shape", SHAPES, ids=["interval", "cron"])
async def test_a_registered_schedule_is_stored_compactly(
    svc: SchedulerService, redis: Redis, keys: Keys, bulk: bool, shape: dict[str, Any]
) -> None:
    base = 7_000 + 10 * SHAPES.index(shape) + bulk
    configs = [
        Config(base + i, name=f"nightly-report-{base + i}", parameters={"message": "hi"}, **shape)
        for i in range(2)
    ]
    await svc.on_created_many(configs, actor=CLI)
    if bulk:
        report = await svc.start_many(configs, actor=CLI)
        assert not report.errors
    else:
        for config in configs:
            await svc.start(config, actor=CLI)
    for config in configs:
        cid = config.id
        assert await redis.object("encoding", keys.schedule(cid)) in COMPACT
        stored = await redis.hgetall(keys.schedule(cid))
        assert stored["m:registered_at"] == ""  # the activation's status_at, kept once
        state = await svc.state.get(cid)
        assert state is not None and state.status == "active"
        spec = specs.parse(config.scheduler_type, config.schedule_config)
        wanted = metadata_of(config, spec, None)
        registered_at = state.metadata.pop("registered_at")
        assert registered_at == stored["status_at"] and state.metadata == {
            k: v for k, v in wanted.items() if k != "registered_at"
        }
        text = await stored_text(redis, keys, cid)
        assert text is not None and ": " not in text and ", " not in text
        assert None not in json.loads(text).values()
        assert '"trigger"' not in text and len(text) < 200  # what a reader restores, left out
        assert svc.core.decode(text) == svc.core.build(config, spec)
        [event] = await redis.lrange(keys.history(cid), 0, 0)
        assert set(json.loads(event)) == {"e", "t", "d", "a"}  # no note: none given
