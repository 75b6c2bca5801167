"""The receive loop on its own (fakes for broker, recorder and executor): what holds a
concurrency slot and what runs outside it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from taskiq import AckableMessage
from taskiq.message import TaskiqMessage

from taskplane import messages
from taskplane.enums import Trigger
from taskplane.tasks.registry import TaskRegistry
from taskplane.worker.consumer import Consumer, backlog_floor


class _Broker:
    def __init__(self, deliveries: list[AckableMessage]) -> None:
        self.deliveries = deliveries

    async def listen(self) -> AsyncIterator[AckableMessage]:
        for d in self.deliveries:
            yield d


class _Recorder:
    """Recording of the first message waits until the second message has run."""

    def __init__(self, events: list[str], second_ran: asyncio.Event) -> None:
        self.events = events
        self.second_ran = second_ran

    async def pre_execute(self, message: TaskiqMessage) -> TaskiqMessage:
        self.events.append(f"claim {message.task_id}")
        return message

    async def post_execute(self, message: TaskiqMessage, result: Any) -> None:
        if message.task_id == "m1":
            await self.second_ran.wait()
        self.events.append(f"record {message.task_id}")


class _Executor:
    def __init__(self, events: list[str], second_ran: asyncio.Event) -> None:
        self.events = events
        self.second_ran = second_ran

    async def run(self, task: Any, message: TaskiqMessage) -> str:
        self.events.append(f"run {message.task_id}")
        if message.task_id == "m2":
            self.second_ran.set()
        return "done"


def _delivery(task_id: str, acks: list[str]) -> AckableMessage:
    body = messages.build(
        config_id=1,
        task_type="echo",
        queue="default",
        parameters={"message": "x"},
        trigger=Trigger.MANUAL,
        task_id=task_id,
    ).body

    async def ack() -> None:
        acks.append(task_id)

    return AckableMessage(data=body, ack=ack)


async def test_a_slot_is_freed_when_the_run_returns_not_when_it_is_recorded() -> None:
    events: list[str] = []
    acks: list[str] = []
    second_ran = asyncio.Event()
    consumer = Consumer(
        _Broker([_delivery("m1", acks), _delivery("m2", acks)]),  # type: ignore[arg-type]
        _Recorder(events, second_ran),  # type: ignore[arg-type]
        _Executor(events, second_ran),  # type: ignore[arg-type]
        TaskRegistry(),
        concurrency=1,
    )
    # one slot: m2 runs while m1's record is still pending (a slot held through the
    # record would deadlock here)
    await asyncio.wait_for(consumer.run(asyncio.Event()), timeout=30)
    assert events.index("run m2") < events.index("record m1")
    assert sorted(acks) == ["m1", "m2"]
    # acknowledged only after recorded
    assert events.index("record m1") > events.index("run m1")


def test_backlog_covers_the_slots_and_a_read_batch() -> None:
    assert backlog_floor(1) >= 64
    assert backlog_floor(500) >= 500
