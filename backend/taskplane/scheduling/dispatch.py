"""Runs on demand: a config's task sent straight to the broker (run now, batch run, and the
``immediate`` run of an interval schedule that becomes active), each recorded as an event.

The message is the one contract (``messages``): labels from the config and its task type
(``registration.run_labels``), a new task id, one pipelined MULTI per batch. With traces
on, each message carries the current span's ``traceparent`` (the api's request span), so
the worker's execution span is its child.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from redis.asyncio import Redis

from taskplane import messages, tracing
from taskplane.actors import Actor
from taskplane.db.configs import ConfigRow
from taskplane.enums import Event, Trigger
from taskplane.errors import NotFound
from taskplane.scheduling.core import SchedulerCoreService
from taskplane.scheduling.registration import run_labels
from taskplane.state.keys import Keys
from taskplane.state.schedule_state import ScheduleStateService


@dataclass(frozen=True, slots=True)
class BatchReport:
    dispatched: list[tuple[int, str]]  # (config id, task id)
    errors: list[tuple[int, str]]  # (config id, detail)


class Dispatcher:
    """Sends runs of configs now, whatever their status."""

    def __init__(
        self, redis: Redis, keys: Keys, state: ScheduleStateService, core: SchedulerCoreService
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.state = state
        self.core = core

    def build(
        self, config: ConfigRow, trigger: Trigger, due_at: datetime | None = None
    ) -> messages.Outgoing:
        """The message of a run of ``config``; NotFound for an unknown task type."""
        labels = run_labels(config, self.core.task_type(config), trigger, due_at)
        traceparent = tracing.current_traceparent()
        if traceparent is not None:
            labels = dataclasses.replace(labels, traceparent=traceparent)
        return messages.compose(labels, config.parameters)

    async def send_immediate(self, config: ConfigRow, now: datetime, *, actor: Actor) -> str:
        """The ``immediate`` run of an interval schedule that becomes active (a ``fired``
        event, as the engine records a scheduled fire; its actor is the activation's)."""
        out = self.build(config, Trigger.IMMEDIATE, due_at=now)
        await messages.send(self.redis, self.keys, out)
        await self.state.record_event(
            config.id,
            Event.FIRED,
            actor=actor,
            details={
                "due_at": now.isoformat(),
                "trigger": str(Trigger.IMMEDIATE),
                "task_id": out.task_id,
            },
        )
        return out.task_id

    async def send_immediate_many(
        self, configs: Sequence[ConfigRow], now: datetime, *, actor: Actor
    ) -> list[str]:
        """``send_immediate`` for many configs: one pipelined send, one pipeline of events."""
        outs = [self.build(config, Trigger.IMMEDIATE, due_at=now) for config in configs]
        await messages.send_many(self.redis, self.keys, outs)
        await self.state.record_events(
            [
                (
                    config.id,
                    Event.FIRED,
                    None,
                    {
                        "due_at": now.isoformat(),
                        "trigger": str(Trigger.IMMEDIATE),
                        "task_id": o.task_id,
                    },
                )
                for config, o in zip(configs, outs, strict=True)
            ],
            actor=actor,
        )
        return [o.task_id for o in outs]

    async def run_now(
        self,
        config: ConfigRow,
        trigger: Trigger = Trigger.MANUAL,
        note: str | None = None,
        *,
        actor: Actor,
    ) -> str:
        """Send the task straight to the broker (any status); returns its task id."""
        out = self.build(config, trigger)
        await messages.send(self.redis, self.keys, out)
        await self.state.record_event(
            config.id,
            Event.RUN_REQUESTED,
            actor=actor,
            note=note,
            details={"task_id": out.task_id, "trigger": str(trigger)},
            config_name=config.name,
        )
        return out.task_id

    async def batch_report(
        self,
        configs: Sequence[ConfigRow],
        trigger: Trigger = Trigger.BATCH,
        note: str | None = None,
        *,
        actor: Actor,
    ) -> BatchReport:
        """Send many runs in one pipelined MULTI; a config that cannot be built (unknown
        task type) is reported without failing the others."""
        outs: list[tuple[int, messages.Outgoing]] = []
        errors: list[tuple[int, str]] = []
        for config in configs:
            try:
                outs.append((config.id, self.build(config, trigger)))
            except NotFound as exc:
                errors.append((config.id, str(exc)))
        await messages.send_many(self.redis, self.keys, [o for _, o in outs])
        await self.state.record_events(
            [
                (cid, Event.RUN_REQUESTED, note, {"task_id": o.task_id, "trigger": str(trigger)})
                for cid, o in outs
            ],
            actor=actor,
            names={config.id: config.name for config in configs},
        )
        return BatchReport([(cid, o.task_id) for cid, o in outs], errors)

    async def batch_run(
        self, configs: Sequence[ConfigRow], note: str | None = None, *, actor: Actor
    ) -> list[str]:
        """Task ids of a batch run, in the order of ``configs``; NotFound if any config
        cannot be sent (use ``batch_report`` for per-config errors)."""
        report = await self.batch_report(configs, note=note, actor=actor)
        if report.errors:
            raise NotFound("task type of config", report.errors[0][0])
        return [task_id for _, task_id in report.dispatched]
