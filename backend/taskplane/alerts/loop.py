"""The alert loop: every api process and every scheduler runs one; one leads at a time.

Each pass the loop takes or renews the lease ``alerts:lease`` (``state/leases.py``); the
leader runs the detector and starts sending the due webhooks in a task of its own (a slow
receiver never delays detection), so alerts are detected and sent while no scheduler runs,
and once however many processes run. A leader that dies is replaced when its lease
(3 passes) runs out. A lost store is reported through ``outage.py`` (one warning per
outage) and the loop backs off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

from redis.exceptions import RedisError

from taskplane.alerts.detector import Detector, Pass
from taskplane.alerts.store import AlertStore
from taskplane.alerts.webhooks import WebhookSender
from taskplane.epoch import to_ms
from taskplane.outage import REDIS, Outages
from taskplane.services import Services
from taskplane.settings import Settings

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


class AlertLoop:
    def __init__(
        self,
        store: AlertStore,
        detector: Detector,
        sender: WebhookSender,
        *,
        interval_seconds: float,
        clock: Callable[[], datetime] = utc_now,
        outages: Outages | None = None,
    ) -> None:
        self.store = store
        self.detector = detector
        self.sender = sender
        self.interval_seconds = interval_seconds
        self.lease_ms = max(1000, int(interval_seconds * 3000))
        self.clock = clock
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.is_leader = False
        self.guard = (outages or Outages()).backoff("alerts", REDIS)
        self._sending: asyncio.Task[int] | None = None

    @classmethod
    def from_services(
        cls,
        services: Services,
        *,
        clock: Callable[[], datetime] = utc_now,
        outages: Outages | None = None,
    ) -> AlertLoop:
        settings: Settings = services.resources.settings
        store = services.alerts
        secret = settings.alert_webhook_secret
        return cls(
            store,
            Detector(
                store,
                services.state,
                services.core,
                webhook_count=len(settings.alert_webhook_urls),
                recheck_seconds=settings.alert_check_interval_seconds,
            ),
            WebhookSender(
                store,
                settings.alert_webhook_urls,
                secret.get_secret_value() if secret is not None else None,
                timeout_seconds=settings.alert_webhook_timeout_seconds,
                give_up_seconds=settings.alert_webhook_retry_seconds,
                first_delay_seconds=settings.alert_webhook_backoff_seconds,
                max_delay_seconds=max(
                    settings.alert_webhook_backoff_seconds,
                    settings.alert_webhook_retry_seconds / 10,
                ),
            ),
            interval_seconds=settings.alert_check_interval_seconds,
            clock=clock,
            outages=outages,
        )

    async def step(self) -> Pass | None:
        """One pass: lead (or not), detect, start sending. None when another process leads."""
        self.is_leader = await self.store.lead(self.holder, self.lease_ms)
        if not self.is_leader:
            return None
        now = self.clock()
        done = await self.detector.check(now)
        if self._sending is None or self._sending.done():
            if self._sending is not None and not self._sending.cancelled():
                error = self._sending.exception()
                if error is not None:
                    self.guard.note(error)
            self._sending = asyncio.create_task(self.sender.send_due(to_ms(now)))
        return done

    async def flush(self) -> int:
        """Wait for the sending under way, then send what is due now (tests, shutdown)."""
        if self._sending is not None:
            with contextlib.suppress(Exception):
                await self._sending
        return await self.sender.send_due(to_ms(self.clock()))

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                try:
                    await self.step()
                except (OSError, RedisError) as exc:
                    await self.guard.failed(exc, stop)
                    continue
                except Exception as exc:  # a bug must not end alerting: log once, go on
                    await self.guard.failed(exc, stop)
                    continue
                self.guard.ok()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.interval_seconds)
        finally:
            await self.close()

    async def close(self) -> None:
        if self._sending is not None:
            self._sending.cancel()
            await asyncio.gather(self._sending, return_exceptions=True)
        with contextlib.suppress(Exception):
            if self.is_leader:
                await self.store.step_down(self.holder)
        await self.sender.close()


@contextlib.asynccontextmanager
async def running_alert_loop(
    services: Services, outages: Outages | None = None
) -> AsyncIterator[AlertLoop | None]:
    """Run the process's alert loop in the background while the block runs (api lifespan,
    scheduler process: its ``outages``, so an outage is still one warning per process);
    nothing when ``alert_loop_enabled`` is off."""
    if not services.resources.settings.alert_loop_enabled:
        yield None
        return
    loop = AlertLoop.from_services(services, outages=outages)
    stop = asyncio.Event()
    task = asyncio.create_task(loop.run(stop), name="alert-loop")
    try:
        yield loop
    finally:
        stop.set()
        try:
            await asyncio.wait_for(task, 10)
        except TimeoutError:
            log.warning("alert loop did not stop in time")
