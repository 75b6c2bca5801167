"""The worker process: ``serve_worker`` is its one entry (``taskplane worker`` and
``python -m taskplane.worker``: logging and /metrics from settings, then ``run_worker``);
``run_worker(settings, queues, concurrency)`` is the async part, for tests and embedding.

Opens the process's resources and builds its services (``taskplane/services.py``), binds
every type of the registry to the broker, and runs the ``Consumer`` (claim, run, record,
ack; ``consumer.py``) until SIGINT/SIGTERM (or ``stop``). Beside it run the record flusher,
the retry pump and the heartbeat (worker heartbeat, running-set TTLs, idle reset of the
messages held). On stop: no new messages, running ones finish (up to
``shutdown_timeout_seconds``), the buffer is flushed if PostgreSQL answers (else it stays in
Redis for the next worker), the heartbeat is withdrawn (also after an error) and the exit
noted. Every loop survives a Redis / PostgreSQL outage (``outage.py``: one warning per
outage for the whole process).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence

from taskplane import heap, tracing
from taskplane.db.executions import ExecutionRecord
from taskplane.logs import setup_logging
from taskplane.metrics import start_metrics_server
from taskplane.outage import REDIS, Outages, describe
from taskplane.resources import open_resources
from taskplane.services import open_services
from taskplane.settings import Settings
from taskplane.state.heartbeats import new_instance_id
from taskplane.state.schedule_records import ExecutionOutcome
from taskplane.state.schedule_state import ScheduleStateService
from taskplane.tasks.registry import TaskRegistry, load_registry
from taskplane.worker.broker import TaskplaneBroker
from taskplane.worker.consumer import Consumer, backlog_floor
from taskplane.worker.execution import Executor
from taskplane.worker.flusher import RecordFlusher
from taskplane.worker.heartbeat import WorkerPresence
from taskplane.worker.limits import RetryPump
from taskplane.worker.recorder import ExecutionRecorder

log = logging.getLogger(__name__)

OnRecorded = Callable[[Sequence[ExecutionRecord]], Awaitable[object]]


def counters_updater(state: ScheduleStateService) -> OnRecorded:
    """What the flusher calls once rows are committed: the schedule state's counters (runs,
    successes, failures, consecutive failures, last run), one pipeline per batch."""

    async def update(records: Sequence[ExecutionRecord]) -> int:
        return await state.record_executions(
            [
                ExecutionOutcome(
                    config_id=r.config_id,
                    task_id=r.task_id,
                    is_success=r.is_success,
                    finished_at=r.completed_at,
                    attempt=r.attempt,
                    trigger=r.trigger,
                )
                for r in records
            ]
        )

    return update


async def _heartbeat(
    presence: WorkerPresence,
    recorder: ExecutionRecorder,
    broker: TaskplaneBroker,
    flusher: RecordFlusher,
    interval_seconds: float,
    outages: Outages,
) -> None:
    """Heartbeat, running-set TTLs, idle reset of held messages, depth metrics."""
    guard = outages.backoff("heartbeat", REDIS)
    while True:
        try:
            await presence.beat()
            await recorder.renew_running()
            await broker.keep_in_flight()
            await broker.observe_depth()
            await flusher.depth()
        except Exception as exc:
            await guard.failed(exc)
            continue
        guard.ok()
        await asyncio.sleep(interval_seconds)


async def _cancel_all(tasks: Sequence[asyncio.Task[None]], within_seconds: float = 10.0) -> None:
    """Cancel, and cancel again until done: redis-py can swallow a cancellation that lands
    in the middle of a command, and the loop would go on."""
    deadline = asyncio.get_running_loop().time() + within_seconds
    pending = [t for t in tasks if not t.done()]
    while pending and asyncio.get_running_loop().time() < deadline:
        for t in pending:
            t.cancel()
        await asyncio.wait(pending, timeout=0.1)
        pending = [t for t in pending if not t.done()]
    for t in tasks:
        if t.done() and not t.cancelled() and t.exception() is not None:
            log.warning("worker loop ended with an error", exc_info=t.exception())


async def _stop_listening(finish: asyncio.Event, broker: TaskplaneBroker) -> None:
    await finish.wait()
    broker.stop_listening()


async def run_worker(
    settings: Settings,
    queues: Sequence[str] | None = None,
    concurrency: int = 10,
    *,
    stop: asyncio.Event | None = None,
    registry: TaskRegistry | None = None,
    shutdown_timeout_seconds: float = 30.0,
    settle_heap: bool = False,
) -> None:
    """Run a worker until a signal or ``stop``; ``queues`` default to every type's queue.
    ``settle_heap``: the worker process's own (``taskplane.heap``), once started."""
    # TaskIQ logs every message at INFO; our recorder is the record of executions
    logging.getLogger("taskiq.receiver.receiver").setLevel(logging.WARNING)
    registry = registry or load_registry(settings)
    served = sorted(set(queues or registry.queues()))
    # the consumer name in the broker's group IS the heartbeat's field: that is how a live
    # worker tells a dead consumer (broker._claim_from_dead)
    worker_id = new_instance_id("worker")
    outages = Outages()  # one warning per outage for all the loops below
    async with open_resources(settings) as resources:
        services = open_services(resources, registry)
        keys = resources.keys
        broker = TaskplaneBroker(
            settings,
            keys,
            served,
            consumer_name=worker_id,
            concurrency=concurrency,
            read_count=backlog_floor(concurrency),
            outages=outages,
            dead_check_seconds=max(0.5, settings.heartbeat_interval_seconds),
        )
        # a restarted Redis leaves every pooled connection dead: drop the idle ones at once
        outages.on_down(REDIS, lambda: resources.redis.connection_pool.disconnect(False))
        outages.on_down(REDIS, lambda: broker.connection_pool.disconnect(False))
        executor = Executor(registry, resources, worker_id)
        executor.bind(broker)
        broker.set_unknown_task(executor.unknown_runner())
        recorder = ExecutionRecorder(resources.redis, keys, settings, registry, worker_id)
        broker.add_middlewares(recorder)
        broker.is_worker_process = True
        flusher = RecordFlusher(
            resources.redis,
            keys,
            resources.sessions,
            worker_id,
            on_recorded=counters_updater(services.state),
            outages=outages,
        )
        presence = WorkerPresence(
            resources.redis,
            keys,
            worker_id,
            served,
            stale_seconds=settings.heartbeat_stale_seconds,
        )
        pump = RetryPump(resources.redis, keys, outages=outages)
        # a short heartbeat keeps held messages well inside the broker's idle timeout
        beat_seconds = min(
            settings.heartbeat_interval_seconds, settings.broker_idle_timeout_ms / 3000
        )
        consumer = Consumer(
            broker,
            recorder,
            executor,
            registry,
            concurrency=concurrency,
            shutdown_timeout_seconds=shutdown_timeout_seconds,
            outages=outages,
            tracing=tracing.active(),  # an execution span per attempt when traces are on
        )
        finish = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        installed: list[signal.Signals] = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, finish.set)
                installed.append(sig)
        await presence.beat()
        background = [
            asyncio.create_task(_stop_listening(finish, broker), name="stop-listening"),
            asyncio.create_task(flusher.run(), name="recorder-flusher"),
            asyncio.create_task(pump.run(), name="retry-pump"),
            asyncio.create_task(
                _heartbeat(presence, recorder, broker, flusher, beat_seconds, outages),
                name="heartbeat",
            ),
        ]
        log.info(
            "worker started",
            extra={"worker": worker_id, "queues": served, "concurrency": concurrency},
        )
        exit_reason = "stopped"
        try:
            await broker.startup()
            if settle_heap:
                heap.settle()
            await consumer.run(finish)
        except BaseException as exc:
            exit_reason = f"failed: {describe(exc)}"
            raise
        finally:
            await _cancel_all(background)
            for sig in installed:
                loop.remove_signal_handler(sig)
            with contextlib.suppress(Exception):
                await flusher.drain()
                await flusher.release()
            with contextlib.suppress(Exception):  # where Redis answers: health sees it at once
                await presence.leave(exit_reason)
            with contextlib.suppress(Exception):
                await broker.shutdown()
            log.info("worker stopped", extra={"worker": worker_id})


def serve_worker(
    settings: Settings,
    queues: Sequence[str] | None = None,
    concurrency: int = 10,
    *,
    metrics_port: int | None = None,
) -> None:
    """The worker process, start to end: logging from settings, /metrics on
    ``metrics_port`` (default ``worker_metrics_port``; 0 disables), traces when an OTLP
    endpoint is set (``taskplane.tracing``, flushed on exit), then ``run_worker`` until
    SIGINT/SIGTERM."""
    setup_logging(settings.log_level, settings.log_format.value)
    port = settings.worker_metrics_port if metrics_port is None else metrics_port
    start_metrics_server(port, "worker", settings.metrics_host)
    tracing.setup(tracing.WORKER)
    try:
        asyncio.run(run_worker(settings, queues, concurrency, settle_heap=True))
    finally:
        tracing.shutdown()
