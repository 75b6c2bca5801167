"""Alert tests: the process's services on the test's Redis and database, configs created
through the ConfigService (so the alert store follows them), and a fake clock the alert
loop, the detector and the engine share (no test waits for a real deadline)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from taskplane.actors import CLI
from taskplane.alerts.detector import Detector
from taskplane.alerts.loop import AlertLoop
from taskplane.alerts.webhooks import WebhookSender
from taskplane.db.configs import ConfigRow
from taskplane.enums import SchedulerType
from taskplane.resources import Resources
from taskplane.services import Services, open_services
from taskplane.settings import Settings
from taskplane.tasks.registry import TaskRegistry, load_registry


@dataclass
class Clock:
    at: datetime

    def now(self) -> datetime:  # the engine's clock
        return self.at

    def __call__(self) -> datetime:  # the alert loop's
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


@pytest.fixture(scope="module")
def registry() -> TaskRegistry:
    return load_registry(Settings(_env_file=None))


@pytest.fixture
def stack(resources: Resources, registry: TaskRegistry) -> Services:
    return open_services(resources, registry)


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime.now(UTC))


async def create(
    stack: Services,
    name: str,
    *,
    alerts: dict[str, Any] | None,
    schedule_config: dict[str, Any] | None = None,
    task_type: str = "echo",
    start: bool = True,
) -> ConfigRow:
    """An interval config (every 60 s, no immediate run) created through the ConfigService."""
    created = await stack.configs.create(
        {
            "name": name,
            "description": None,
            "task_type": task_type,
            "scheduler_type": SchedulerType.INTERVAL,
            "schedule_config": schedule_config or {"seconds": 60, "run_immediately": False},
            "parameters": {"message": "hi"} if task_type == "echo" else {},
            "max_retries": None,
            "timeout_seconds": None,
            "priority": None,
            "alerts": alerts,
        },
        actor=CLI,
        auto_start=start,
    )
    return created.row


def detector(stack: Services, webhook_count: int = 0) -> Detector:
    return Detector(
        stack.alerts, stack.state, stack.core, webhook_count=webhook_count, recheck_seconds=1
    )


def alert_loop(
    stack: Services,
    clock: Clock,
    urls: Sequence[str] = (),
    secret: str | None = None,
    *,
    backoff_seconds: float = 2.0,
    give_up_seconds: float = 600.0,
) -> AlertLoop:
    """A loop as ``AlertLoop.from_services`` builds it, with test webhooks and back-off."""
    sender = WebhookSender(
        stack.alerts,
        urls,
        secret,
        timeout_seconds=2.0,
        give_up_seconds=give_up_seconds,
        first_delay_seconds=backoff_seconds,
        max_delay_seconds=backoff_seconds * 8,
    )
    return AlertLoop(
        stack.alerts,
        detector(stack, len(urls)),
        sender,
        interval_seconds=1.0,
        clock=clock,
    )
