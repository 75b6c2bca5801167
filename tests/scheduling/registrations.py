"""Schedules registered straight through SchedulerCoreService, with no config row: a config
as core reads it, a registry that knows every task type, and ``register``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from redis.asyncio import Redis

from taskplane.db.configs import ConfigRow
from taskplane.enums import SchedulerType
from taskplane.scheduling import specs
from taskplane.scheduling.core import SchedulerCoreService
from taskplane.state.keys import Keys

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def Config(id: int, **fields: Any) -> ConfigRow:
    """A config row as core reads it, with no database behind it (``fields`` over these
    defaults; a ``scheduler_type`` may be given by its value)."""
    values: dict[str, Any] = {
        "name": f"config-{id}",
        "description": None,
        "task_type": "echo",
        "scheduler_type": SchedulerType.INTERVAL,
        "schedule_config": {},
        "parameters": {},
        "max_retries": 2,
        "timeout_seconds": 30,
        "priority": 3,
        "created_at": EPOCH,
        "updated_at": EPOCH,
        **fields,
    }
    values["scheduler_type"] = SchedulerType(values["scheduler_type"])
    return ConfigRow(id=id, **values)


@dataclass(frozen=True)
class TaskType:
    name: str
    queue: str = "default"
    timeout_seconds: int | None = None


class Registry:
    def get(self, name: str) -> TaskType:
        return TaskType(name)


async def register(
    redis: Redis, keys: Keys, config_id: int, spec: specs.Spec, due_at: datetime
) -> None:
    """Register a schedule through SchedulerCoreService, first due at ``due_at``."""
    core = SchedulerCoreService(redis, keys, Registry())
    config = Config(id=config_id, parameters={"message": f"hi {config_id}"})
    await core.add(config, spec, due_at=due_at, now=due_at - timedelta(seconds=1))


def interval(seconds: int, **policy: Any) -> specs.Spec:
    return specs.Spec(kind=SchedulerType.INTERVAL, interval_seconds=seconds, **policy)
