"""Live events for ``GET /events``: schedule status changes and recorded executions.

Publishing: their owners publish on one Redis pub/sub channel (``Keys.events``), in the same
pipeline as the change where there is one: the schedule state service on every status change
(``schedule``: ``{config_id, status, event}``) and on every execution it counts
(``execution``: ``{config_id, id, is_success, trigger}``). Pub/sub is fire and forget: a
publisher never waits for a listener, and several api processes each get every event.

Listening: one ``Hub`` per api process holds one subscription and fans each event out to
the queue of every connected client. A queue is bounded: a client that cannot keep up (or
has gone without closing) is dropped, its stream ends and the browser reconnects, so no
client can hold up the api, another client or a publisher. The hub resubscribes by itself
after a Redis outage (the stream says nothing meanwhile but keep-alive comments).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from taskplane.outage import REDIS, Outages

log = logging.getLogger(__name__)

SCHEDULE = "schedule"
EXECUTION = "execution"
QUEUE_SIZE = 1000
"""Events a client may fall behind by before it is dropped."""


def schedule_event(config_id: int, status: str | None, event: str | None) -> str:
    return json.dumps(
        {"type": SCHEDULE, "config_id": config_id, "status": status, "event": event},
        separators=(",", ":"),
    )


def execution_event(
    config_id: int, execution_id: int | None, is_success: bool, trigger: str
) -> str:
    return json.dumps(
        {
            "type": EXECUTION,
            "config_id": config_id,
            "id": execution_id,
            "is_success": is_success,
            "trigger": trigger,
        },
        separators=(",", ":"),
    )


async def publish(redis: Redis, channel: str, payloads: Sequence[str]) -> None:
    """Publish events, one pipeline; fire and forget: a lost Redis loses the events, never
    the change they tell of (the caller has made it already)."""
    if not payloads:
        return
    try:
        async with redis.pipeline(transaction=False) as pipe:
            for payload in payloads:
                pipe.publish(channel, payload)
            await pipe.execute()
    except RedisError:
        log.warning("live events not published", extra={"events": len(payloads)})


@dataclass(frozen=True, slots=True)
class Event:
    """One event as a stream sends it: ``event: {kind}`` / ``data: {data}``."""

    kind: str
    data: dict[str, Any]

    def sse(self) -> str:
        payload = json.dumps(self.data, separators=(",", ":"))
        return f"event: {self.kind}\ndata: {payload}\n\n"


def decode(raw: Any) -> Event | None:
    """An event from a pub/sub message payload; None when it is not one of ours."""
    try:
        data = json.loads(raw)
    except (TypeError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("type") not in (SCHEDULE, EXECUTION):
        return None
    kind = str(data.pop("type"))
    return Event(kind, data)


@dataclass(eq=False)
class Subscription:
    """One client's view of the hub: ``get`` waits for the next event, None at a timeout
    (time for a keep-alive comment); the iteration ends when the hub drops or closes it."""

    queue: asyncio.Queue[Event | None] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    is_closed: bool = False

    async def get(self, wait_seconds: float) -> Event | None:
        """The next event, or None after ``wait_seconds``; raises StopAsyncIteration
        once the subscription is closed."""
        if self.is_closed and self.queue.empty():
            raise StopAsyncIteration
        try:
            item = await asyncio.wait_for(self.queue.get(), wait_seconds)
        except TimeoutError:
            return None
        if item is None:
            raise StopAsyncIteration
        return item

    def close(self) -> None:
        if not self.is_closed:
            self.is_closed = True
            with contextlib.suppress(asyncio.QueueFull):
                self.queue.put_nowait(None)


class Hub:
    """The api process's one subscription to ``channel``, fanned out to its clients."""

    def __init__(self, redis: Redis, channel: str, outages: Outages | None = None) -> None:
        self.redis = redis
        self.channel = channel
        self.outages = outages or Outages()
        self.clients: set[Subscription] = set()
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    def subscribe(self) -> Subscription:
        if self._task is None:
            self._task = asyncio.create_task(self._listen(), name="events-hub")
        sub = Subscription()
        self.clients.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self.clients.discard(sub)
        sub.close()

    async def ready(self, within: float = 5.0) -> None:
        """Wait until the hub listens (tests: an event published before would be missed)."""
        await asyncio.wait_for(self._subscribed.wait(), within)

    def publish_local(self, event: Event) -> None:
        """Hand one event to every client; a client that is too far behind is dropped."""
        for sub in list(self.clients):
            try:
                sub.queue.put_nowait(event)
            except asyncio.QueueFull:
                log.warning("events client too slow; its stream is closed")
                self.clients.discard(sub)
                sub.is_closed = True  # its reader ends when it has drained the queue

    async def _listen(self) -> None:
        guard = self.outages.backoff("events-hub", REDIS)
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self._subscribed.set()
                guard.ok()
                async for message in self._messages(pubsub):
                    event = decode(message.get("data"))
                    if event is not None:
                        self.publish_local(event)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._subscribed.clear()
                await guard.failed(exc)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    @staticmethod
    async def _messages(pubsub: Any) -> AsyncIterator[dict[str, Any]]:
        while True:
            message = await pubsub.get_message(timeout=1.0)
            if message is not None:
                yield message

    async def close(self) -> None:
        """Stop listening and end every client's stream."""
        for sub in list(self.clients):
            self.unsubscribe(sub)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
