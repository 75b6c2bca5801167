"""Schedules registered straight through SchedulerCoreService, with no config row: a config
as core reads it, a registry that knows every task type, and ``register``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from redis.asyncio import Redis

from taskplane.enums import SchedulerType
from taskplane.scheduling import specs
from taskplane.scheduling.core import SchedulerCoreService
from taskplane.state.keys import Keys


@dataclass(frozen=True)
class Config:
    """What core reads of a config (the ConfigLike protocol)."""

    id: int
    task_type: str = "echo"
    scheduler_type: str = "interval"
    schedule_config: dict[str, Any] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)
    max_retries: int = 2
    timeout_seconds: int | None = 30
    priority: int = 3


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
