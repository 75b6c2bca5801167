"""Webhook delivery from the durable outbox (``AlertStore``): exactly-once-ish.

Each (incident, state, URL) is a ``Delivery`` written by the script that opened or resolved
the incident, so a restart loses none. Only the alert loop's leader sends, so one process
posts each; a delivery leaves the outbox when a POST answers 2xx (a crash between the answer
and the removal sends it again: at least once, at most twice). A failed POST is tried again
after an exponential back-off (``first_delay_seconds`` doubling up to ``max_delay_seconds``)
until ``give_up_seconds`` after the incident's moment. A webhook that keeps failing is
logged once per incident and URL (the first failure), never once per try; the URL is never
logged whole (it may hold a token): only its host. Every POST has a timeout and all of a
pass's POSTs run at once, so a slow receiver blocks no loop.

The body is the incident's payload as JSON; with a secret, ``X-Taskplane-Signature:
sha256=<hex HMAC-SHA256 of the body>``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from collections.abc import Sequence
from urllib.parse import urlsplit

import httpx

from taskplane.alerts.store import AlertStore, Delivery, with_attempt

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Taskplane-Signature"


def signature(secret: str, body: bytes) -> str:
    """The header's value for ``body``: ``sha256=<hex HMAC-SHA256>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookSender:
    """Sends the outbox's due deliveries (see the module doc)."""

    def __init__(
        self,
        store: AlertStore,
        urls: Sequence[str],
        secret: str | None,
        *,
        timeout_seconds: float = 5.0,
        give_up_seconds: float = 600.0,
        first_delay_seconds: float = 2.0,
        max_delay_seconds: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.store = store
        self.urls = list(urls)
        self.secret = secret
        self.give_up_ms = int(give_up_seconds * 1000)
        self.first_delay_ms = int(first_delay_seconds * 1000)
        self.max_delay_ms = int(max_delay_seconds * 1000)
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_seconds), transport=transport, follow_redirects=False
        )
        self._warned: set[tuple[int, int]] = set()  # (incident, url index) logged

    async def close(self) -> None:
        await self.client.aclose()

    async def send_due(self, now_ms: int) -> int:
        """POST every delivery due at ``now_ms`` (at once); returns how many were sent."""
        due = await self.store.deliveries_due(now_ms)
        if not due:
            return 0
        results = await asyncio.gather(*(self._send(d, now_ms) for d in due))
        return sum(results)

    async def _send(self, delivery: Delivery, now_ms: int) -> bool:
        if delivery.url_index >= len(self.urls):  # the settings name fewer URLs now
            await self.store.delivered(delivery)
            return False
        url = self.urls[delivery.url_index]
        body = delivery.body.encode()
        headers = {"Content-Type": "application/json", "User-Agent": "taskplane-alerts"}
        if self.secret:
            headers[SIGNATURE_HEADER] = signature(self.secret, body)
        error: str | None = None
        try:
            response = await self.client.post(url, content=body, headers=headers)
            if 200 <= response.status_code < 300:
                await self.store.delivered(delivery)
                return True
            error = f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            error = type(exc).__name__
        await self._failed(delivery, url, error, now_ms)
        return False

    async def _failed(self, delivery: Delivery, url: str, error: str, now_ms: int) -> None:
        seen = (delivery.incident_id, delivery.url_index)
        first = not delivery.warned and seen not in self._warned
        if first:
            self._warned.add(seen)
            log.warning(
                "alert webhook failing; retrying with back-off",
                extra={
                    "incident": delivery.incident_id,
                    "host": urlsplit(url).hostname,
                    "error": error,
                    "give_up_seconds": self.give_up_ms // 1000,
                },
            )
        if now_ms - delivery.first_ms >= self.give_up_ms:
            log.info(
                "alert webhook given up",
                extra={"incident": delivery.incident_id, "host": urlsplit(url).hostname},
            )
            await self.store.delivered(delivery)
            return
        retried = with_attempt(delivery, warned=True)
        delay = min(self.max_delay_ms, self.first_delay_ms * 2 ** (retried.attempts - 1))
        await self.store.retry_later(retried, now_ms + delay)
