"""The scheduler process: open resources, run the engine until SIGTERM / SIGINT.

``serve_scheduler(settings)`` is its one entry (``taskplane scheduler`` and
``python -m taskplane.scheduling``): logging and /metrics from settings, then
``run_scheduler(settings)``, the async part (for tests and embedding).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from taskplane import heap, tracing
from taskplane.alerts.loop import running_alert_loop
from taskplane.logs import setup_logging
from taskplane.metrics import start_metrics_server
from taskplane.outage import DATABASE, REDIS, Backoff, Outages, store_of
from taskplane.resources import open_resources
from taskplane.scheduling.engine import Engine
from taskplane.scheduling.pause_ends import PauseEnds
from taskplane.services import Services, open_services
from taskplane.settings import Settings

log = logging.getLogger(__name__)


async def _reconcile(services: Services, guard: Backoff) -> None:
    """Repair drift between state and registered schedules (idempotent: several instances may
    do it at once). A store that is down does not stop the scheduler: the failure counts
    toward the process's outage (one warning, ``outage.py``) and the next period retries."""
    try:
        await services.scheduler.reconcile_all(services.resources.sessions)
    except (OSError, RedisError, SQLAlchemyError) as exc:
        if store_of(exc, guard.stores) is None:
            log.warning("reconcile skipped", extra={"error": type(exc).__name__})
        else:
            guard.note(exc)
        return
    guard.ok()


async def _reconcile_periodically(
    services: Services,
    engine: Engine,
    period_seconds: float,
    stop: asyncio.Event,
    guard: Backoff,
) -> None:
    """The leader reconciles every ``period_seconds``: drift that arose while the process ran
    (a config deleted while Redis was down leaves an orphan schedule) is repaired without a
    restart."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), period_seconds)
        if not stop.is_set() and engine.presence is not None and engine.presence.is_leader:
            await _reconcile(services, guard)


async def run_scheduler(
    settings: Settings, *, stop: asyncio.Event | None = None, settle_heap: bool = False
) -> None:
    """Run one scheduler instance until ``stop`` is set or the process gets SIGTERM/SIGINT.
    ``settle_heap``: the scheduler process's own (``taskplane.heap``), once started.

    On a clean stop the instance releases its lease, so another instance takes over at
    once; after a crash the lease runs out (``scheduler_lease_ms``) and another takes over.
    """
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
    try:
        async with open_resources(settings) as resources:
            services = open_services(resources)
            outages = Outages()  # one warning per outage for all the loops
            outages.on_down(REDIS, lambda: resources.redis.connection_pool.disconnect(False))
            engine = Engine.from_settings(
                settings,
                resources.redis,
                completer=services.scheduler,  # told when a date schedule has fired
                outages=outages,
                state=services.state,
                core=services.core,
                tracing=tracing.active(),  # a span per fire when traces are on
            )
            guard = outages.backoff("reconcile", REDIS, DATABASE)
            assert engine.presence is not None
            log.info("scheduler starting", extra={"instance": engine.presence.id})
            if settings.scheduler_reconcile_at_start:
                await _reconcile(services, guard)
            if settle_heap:
                heap.settle()
            period = settings.scheduler_reconcile_interval_seconds
            repairer = (
                asyncio.create_task(_reconcile_periodically(services, engine, period, stop, guard))
                if period > 0
                else None
            )
            pause_ends = PauseEnds(services.scheduler, resources.sessions, clock=engine.clock)
            try:
                async with running_alert_loop(services, outages):  # alerts: one process leads
                    await engine.run(stop, pause_ends)
            finally:
                if repairer is not None:
                    repairer.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await repairer
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


def serve_scheduler(settings: Settings, *, metrics_port: int | None = None) -> None:
    """The scheduler process, start to end: logging from settings, /metrics on
    ``metrics_port`` (default ``scheduler_metrics_port``; 0 disables), traces when an OTLP
    endpoint is set (``taskplane.tracing``, flushed on exit), then ``run_scheduler`` until
    SIGINT/SIGTERM."""
    setup_logging(settings.log_level, settings.log_format.value)
    port = settings.scheduler_metrics_port if metrics_port is None else metrics_port
    start_metrics_server(port, "scheduler", settings.metrics_host)
    tracing.setup(tracing.SCHEDULER)
    try:
        asyncio.run(run_scheduler(settings, settle_heap=True))
    finally:
        tracing.shutdown()
