"""The worker's receive loop: broker messages -> claim -> run -> record -> ack.

It replaces TaskIQ's ``Receiver`` on the hot path. The Receiver hands messages over one at a
time through a prefetch queue (several asyncio tasks and loop turns per message) and runs
dependency injection and signature checks our task functions do not use; here a whole
XREADGROUP batch starts in ONE loop turn, so the recorder's batched claim / finish scripts
and the ack batcher take the batch in one round trip each.

Per message, in order (the same order and guarantees as before):
1. parse (an unreadable message is logged and acknowledged: it can never run);
2. ``ExecutionRecorder.pre_execute`` (claim; a duplicate delivery is marked skipped);
3. ``Executor.run`` (never raises for the task's fault; returns an ``Attempt`` / ``Skipped``);
4. ``ExecutionRecorder.post_execute`` (record + claim ``done:`` + retry, one script);
5. ack (XACK + XDEL): in the same script as the record (a skipped delivery: on its own).
   If recording fails, the message stays unacknowledged and is re-delivered.

At most ``concurrency`` messages run at once (a slot is held from the claim until the
function returns; recording and ack happen outside it, up to ``backlog_floor`` messages in
all, and the broker reads that many at a time); on stop, no new message is started and the
running ones get ``shutdown_timeout_seconds`` to finish.

With traces on (``tracing``), each run is inside its execution span (``_run_traced``), a
child of the message's ``traceparent``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from taskiq import AckableMessage
from taskiq.message import TaskiqMessage
from taskiq.result import TaskiqResult

from taskplane import messages
from taskplane.outage import Outages, delay_seconds, store_of
from taskplane.tasks.registry import TaskRegistry, TaskType
from taskplane.worker.broker import Delivery, TaskplaneBroker, mark_redelivered
from taskplane.worker.execution import Attempt, Executor, Skipped
from taskplane.worker.recorder import ExecutionRecorder

if TYPE_CHECKING:
    from taskplane.tracing.provider import Tracing

log = logging.getLogger(__name__)


async def _ack(delivery: AckableMessage) -> None:
    pending = delivery.ack()
    if pending is not None:
        await pending


def _redelivered(delivery: AckableMessage) -> AckableMessage:
    data = mark_redelivered(delivery.data)
    if isinstance(delivery, Delivery):
        return Delivery.model_construct(
            data=data, ack=delivery.ack, stream=delivery.stream, msg_id=delivery.msg_id
        )
    return AckableMessage.model_construct(data=data, ack=delivery.ack)


def backlog_floor(concurrency: int) -> int:
    """Messages a worker takes at once (read, running or being recorded): enough that the
    batched record / ack round trips, not the slots, set the pace of short tasks."""
    return max(256, 4 * concurrency)


class Consumer:
    """Runs the messages ``broker.listen()`` yields (see the module doc)."""

    def __init__(
        self,
        broker: TaskplaneBroker,
        recorder: ExecutionRecorder,
        executor: Executor,
        registry: TaskRegistry,
        *,
        concurrency: int,
        shutdown_timeout_seconds: float = 30.0,
        outages: Outages | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        self.broker = broker
        self.tracing = tracing
        self.recorder = recorder
        self.executor = executor
        self.registry = registry
        self.concurrency = max(1, concurrency)
        # a run's slot is freed when its function returns; its record and ack (batched
        # Redis round trips) go on outside it, up to this many messages in all
        self.backlog = max(backlog_floor(self.concurrency), self.concurrency)
        self.shutdown_timeout_seconds = shutdown_timeout_seconds
        self._tasks: set[asyncio.Task[None]] = set()
        self.outages = outages or Outages()

    async def run(self, finish: asyncio.Event) -> None:
        """Consume until ``finish`` is set (and the broker stopped listening), then wait for
        the running messages."""
        slots = asyncio.Semaphore(self.concurrency)  # runs at once
        backlog = asyncio.Semaphore(self.backlog)  # started, not yet acknowledged

        def start(delivery: AckableMessage) -> None:
            held = True

            def free_slot() -> None:
                nonlocal held
                if held:
                    held = False
                    slots.release()

            def done(task: asyncio.Task[None]) -> None:
                self._tasks.discard(task)
                free_slot()
                backlog.release()
                exc = None if task.cancelled() else task.exception()
                if exc is None:
                    return
                # left unacknowledged: re-delivered once this worker is gone
                log.warning("message handling failed", exc_info=exc)

            task = asyncio.create_task(self._handle_until_done(delivery, free_slot, finish))
            self._tasks.add(task)
            task.add_done_callback(done)

        listener = self.broker.listen()
        try:
            async for delivery in listener:
                if finish.is_set():
                    break  # left unacknowledged: re-delivered to a running worker
                await backlog.acquire()
                await slots.acquire()
                start(delivery)
        finally:
            await listener.aclose()
            if self._tasks:
                await asyncio.wait(set(self._tasks), timeout=self.shutdown_timeout_seconds)
            # past the grace: cancel what still runs (not recorded, so re-delivered) before
            # the worker withdraws its heartbeat and a live worker takes its messages
            late = [t for t in self._tasks if not t.done()]
            for t in late:
                t.cancel()
            if late:
                await asyncio.wait(late, timeout=5)

    async def _handle_until_done(
        self, delivery: AckableMessage, free_slot: Callable[[], None], finish: asyncio.Event
    ) -> None:
        """``handle``, again after a back-off while Redis (or PostgreSQL) is lost: the message
        stays held by this worker (its heartbeat keeps it), so nobody else would run it. The
        retry is marked re-delivered, so it may take over this worker's own ``run:`` claim;
        if the record was written but its reply lost, the ``done:`` claim skips the retry."""
        failures = 0
        while True:
            try:
                await self.handle(delivery, free_slot)
                return
            except Exception as exc:
                store = store_of(exc)
                if store is None or finish.is_set():
                    raise  # left unacknowledged: re-delivered once this worker is gone
                failures += 1
                if self.outages.down(store, exc, "record"):
                    await self.outages.run_hooks(store)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(finish.wait(), timeout=delay_seconds(failures))
                delivery = _redelivered(delivery)

    def _parse(self, data: bytes | str) -> TaskiqMessage:
        message = TaskiqMessage.model_validate_json(data)
        message.parse_labels()
        return message

    async def _run_traced(
        self, tracing: Tracing, task: TaskType | None, message: TaskiqMessage
    ) -> Attempt | Skipped:
        """``executor.run`` inside the attempt's execution span."""
        with tracing.execution(messages.RunLabels.of(message), message.task_id) as span:
            outcome = await self.executor.run(task, message)
            if isinstance(outcome, Skipped):
                span.finish("skipped")
            elif outcome.result.success:
                span.finish("success")
            else:
                span.finish("failure", outcome.result.error)
            return outcome

    async def handle(
        self, delivery: AckableMessage, free_slot: Callable[[], None] = lambda: None
    ) -> None:
        try:
            message = self._parse(delivery.data)
        except Exception:
            log.warning("unreadable message dropped", exc_info=True)
            await _ack(delivery)
            return
        type_name = messages.task_type_of(message.task_name)
        if type_name is None:
            log.warning("message for a task that is not taskplane's dropped: %s", message.task_name)
            await _ack(delivery)
            return
        task = self.registry.find(type_name)
        message = await self.recorder.pre_execute(message)
        started = time.perf_counter()
        result: TaskiqResult[Any]
        try:
            if self.tracing is None:
                outcome = await self.executor.run(task, message)
            else:
                outcome = await self._run_traced(self.tracing, task, message)
        except BaseException as exc:  # cancelled at shutdown: not recorded, re-delivered
            free_slot()
            result = TaskiqResult(
                is_err=True,
                return_value=None,
                execution_time=time.perf_counter() - started,
                error=exc,
            )
            # post_execute refuses to record it (by raising): as intended
            with contextlib.suppress(Exception):
                await self.recorder.post_execute(message, result)
            raise
        free_slot()
        result = TaskiqResult(
            is_err=False,
            return_value=outcome,
            execution_time=time.perf_counter() - started,
        )
        if isinstance(delivery, Delivery):
            # recorded and acknowledged in one script
            if await self.recorder.record(message, result, ack=(delivery.stream, delivery.msg_id)):
                self.broker.acked(delivery)
                return
        else:
            await self.recorder.post_execute(message, result)
        await _ack(delivery)
