"""The broker: taskiq-redis ``RedisStreamBroker``, one stream per queue, JSON only.

``TaskplaneBroker`` reads every stream of the queues it serves (``Keys.broker_stream``) in
the consumer group ``taskplane`` and differs from the stock ``listen`` in these ways:

- the group is created at ``0``, so messages sent before the first worker started are run;
- the messages of a dead worker (its consumer name is its heartbeat's field; the heartbeat
  is stale or withdrawn) are claimed at once by a live worker (``_claim_from_dead``);
  messages idle longer than ``broker_idle_timeout_ms`` are claimed (XAUTOCLAIM) on a timer
  as the safety net; both are marked re-delivered (the recorder lets only those take over
  a claim);
- a lost Redis never ends ``listen``: it backs off and resumes (``outage.py``);
- the messages this worker holds are re-claimed by it on every heartbeat (XCLAIM JUSTID),
  so a long run is never taken for a crashed one;
- an acknowledgement is XACK + XDEL in one round trip: the stream holds only messages not
  yet done, so it does not grow without bound.

A message naming a type this worker does not know is run by a fallback task that records
the failure, instead of TaskIQ's log-and-drop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError
from taskiq import AckableMessage
from taskiq.decor import AsyncTaskiqDecoratedTask
from taskiq.serializers import JSONSerializer
from taskiq_redis import RedisStreamBroker

from taskplane import messages, metrics, redis_clients
from taskplane.messages import CONSUMER_GROUP, TASK_NAME_PREFIX
from taskplane.outage import REDIS, Outages
from taskplane.settings import Settings
from taskplane.state import heartbeats
from taskplane.state.keys import Keys
from taskplane.state.replies import text
from taskplane.worker.batching import AckBatcher
from taskplane.worker.execution import REDELIVERED_LABEL

log = logging.getLogger(__name__)

UNKNOWN_TASK_NAME = f"{TASK_NAME_PREFIX}__unknown__"
DEAD_CLAIM_MIN_IDLE_MS = 500
"""XCLAIM's min-idle when taking a dead worker's messages: the first claimer resets the idle
time, so a second worker that read the same pending list a moment later claims nothing."""

# KEYS[1] stream; ARGV[1] group, ARGV[2] consumer: delete the consumer only if it holds
# nothing (XGROUP DELCONSUMER drops its pending messages, and a consumer with a stale
# heartbeat may still be reading). Redis 6.2: XPENDING with a consumer filter.
_FORGET_CONSUMER = """
if #redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2]) == 0 then
  return redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
end
return -1
"""


def _is_missing_group(exc: BaseException) -> bool:
    return isinstance(exc, ResponseError) and str(exc).startswith("NOGROUP")


def mark_redelivered(body: bytes | str) -> bytes:
    data = json.loads(body)
    data.setdefault("labels", {})[REDELIVERED_LABEL] = True
    return json.dumps(data, separators=(",", ":")).encode()


class Delivery(AckableMessage):
    """A message as this broker yields it: also where it came from, so the recorder can
    acknowledge it in the script that records it."""

    stream: str
    msg_id: str


class TaskplaneBroker(RedisStreamBroker):
    """See the module doc. ``queues`` are queue names (not stream keys)."""

    def __init__(
        self,
        settings: Settings,
        keys: Keys,
        queues: Sequence[str],
        *,
        consumer_name: str,
        concurrency: int = 10,
        xread_block_ms: int = 1000,
        read_count: int | None = None,
        outages: Outages | None = None,
        dead_check_seconds: float = 2.0,
    ) -> None:
        if not queues:
            raise ValueError("a worker needs at least one queue")
        self.keys = keys
        self.queues = sorted(set(queues))
        self.streams = [messages.stream(keys, q) for q in self.queues]
        super().__init__(
            url=settings.redis_url.get_secret_value(),
            queue_name=self.streams[0],
            max_connection_pool_size=concurrency + 8,
            consumer_group_name=CONSUMER_GROUP,
            consumer_name=consumer_name,
            consumer_id="0",
            xread_block=xread_block_ms,
            idle_timeout=settings.broker_idle_timeout_ms,
            xread_count=max(1, read_count or concurrency),
            unacknowledged_batch_size=max(1, concurrency),
            additional_streams=dict.fromkeys(self.streams[1:], ">"),
        )
        # the stock pool is built from the URL (never connected): replaced by the one the
        # settings find Redis by (redis_clients.py: the URL's, or the primary the Sentinels
        # name, followed across a failover); bytes replies, as taskiq-redis reads them
        self.connection_pool = redis_clients.connection_pool(
            settings, max_connections=concurrency + 8, timeout=20
        )
        self.with_serializer(JSONSerializer())
        # message ids this worker holds, per stream: re-claimed on every heartbeat
        self.in_flight: dict[str, set[str]] = {s: set() for s in self.streams}
        self._unknown: AsyncTaskiqDecoratedTask[Any, Any] | None = None
        self._client = Redis(connection_pool=self.connection_pool)  # acks, heartbeat work
        self._acks = AckBatcher(self._client, CONSUMER_GROUP)
        self._stop = asyncio.Event()
        self.outages = outages or Outages()
        self.stale_seconds = settings.heartbeat_stale_seconds
        self.claim_every_seconds = max(0.5, settings.broker_idle_timeout_ms / 4000)
        self.dead_check_seconds = dead_check_seconds
        self._last_idle_claim = self._last_dead_check = -math.inf
        self._forget_consumer = self._client.register_script(_FORGET_CONSUMER)

    def stop_listening(self) -> None:
        """End ``listen`` within one read block. (Cancelling a blocked XREADGROUP is not
        enough: redis-py may swallow the cancellation and the loop would read on.)"""
        self._stop.set()

    def set_unknown_task(self, fn: Callable[..., Awaitable[Any]]) -> None:
        self._unknown = self.register_task(fn, task_name=UNKNOWN_TASK_NAME)

    def find_task(self, task_name: str) -> AsyncTaskiqDecoratedTask[Any, Any] | None:
        task = super().find_task(task_name)
        if task is None and task_name.startswith(TASK_NAME_PREFIX):
            return self._unknown
        return task

    def _ackable(self, stream: str, msg_id: str, data: bytes) -> Delivery:
        self.in_flight[stream].add(msg_id)

        async def ack() -> None:
            await self._acks.ack(stream, msg_id)
            self.in_flight[stream].discard(msg_id)

        return Delivery.model_construct(data=data, ack=ack, stream=stream, msg_id=msg_id)

    def acked(self, delivery: Delivery) -> None:
        """``delivery`` was acknowledged elsewhere (with its record): no longer held."""
        self.in_flight[delivery.stream].discard(delivery.msg_id)

    async def listen(self) -> AsyncGenerator[AckableMessage, None]:
        """Yield every message this worker should run, until ``stop_listening``. A lost
        Redis never ends it: the loop backs off and resumes alone (``outage.py``)."""
        guard = self.outages.backoff("receive", REDIS)
        async with Redis(connection_pool=self.connection_pool) as conn:
            while not self._stop.is_set():
                try:
                    batch = await self._next_batch(conn)
                except Exception as exc:
                    if _is_missing_group(exc):  # Redis came back without its data
                        with contextlib.suppress(Exception):
                            await self._declare_consumer_group()
                    await guard.failed(exc, self._stop)
                    continue
                guard.ok()
                for stream, msg_id, data in batch:
                    yield self._ackable(stream, msg_id, data)

    async def _next_batch(self, conn: Redis) -> list[tuple[str, str, bytes]]:
        """What to run next: messages of dead workers and idle ones (on their timers), then
        new ones (XREADGROUP, blocking only when nothing was claimed)."""
        now = time.monotonic()
        out: list[tuple[str, str, bytes]] = []
        if now - self._last_idle_claim >= self.claim_every_seconds:
            self._last_idle_claim = now
            out += await self._claim_idle(conn)
        if now - self._last_dead_check >= self.dead_check_seconds:
            self._last_dead_check = now
            out += await self._claim_from_dead(conn)
        fetched: Any = await conn.xreadgroup(
            self.consumer_group_name,
            self.consumer_name,
            dict.fromkeys(self.streams, ">"),
            block=None if out else self.block,
            count=self.count,
        )
        if isinstance(fetched, dict):  # RESP3 answers a map
            fetched = list(fetched.items())
        # the whole batch is ours from now on, also what waits for a free slot: keep all
        # of it alive (heartbeat), not only what already runs
        for stream, msgs in fetched or []:
            for msg_id, fields in msgs:
                self.in_flight[text(stream)].add(text(msg_id))
                out.append((text(stream), text(msg_id), fields[b"data"]))
        return out

    async def _take_over(
        self, stream: str, entries: Sequence[Any], why: str, **facts: Any
    ) -> list[tuple[str, str, bytes]]:
        """Entries this worker just claimed: held from now on, marked re-delivered (the
        recorder lets only those take over a claim); a deleted entry is dropped."""
        out = []
        self.in_flight[stream].update(text(msg_id) for msg_id, _ in entries)
        for msg_id, fields in entries:
            if not fields or b"data" not in fields:  # not a message: drop it
                await self._acks.ack(stream, text(msg_id))
                self.in_flight[stream].discard(text(msg_id))
                continue
            log.warning(why, extra={"stream": stream, "message_id": text(msg_id), **facts})
            out.append((stream, text(msg_id), mark_redelivered(fields[b"data"])))
        return out

    async def _claim_idle(self, conn: Redis) -> list[tuple[str, str, bytes]]:
        """Messages idle longer than ``broker_idle_timeout_ms`` (XAUTOCLAIM): the safety net
        for whatever the dead-worker check cannot see."""
        out = []
        for stream in self.streams:
            claimed: Any = await conn.xautoclaim(
                stream,
                self.consumer_group_name,
                self.consumer_name,
                min_idle_time=self.idle_timeout,
                start_id="0-0",
                count=self.unacknowledged_batch_size,
            )
            out += await self._take_over(
                stream, list(claimed[1]), "re-delivering a message a worker left unacknowledged"
            )
        return out

    async def _claim_from_dead(self, conn: Redis) -> list[tuple[str, str, bytes]]:
        """The pending messages of consumers whose worker is dead, at once.

        A consumer's name is its worker's id, the field of its heartbeat in
        ``Keys.workers``: a consumer without a fresh heartbeat there (stale, or withdrawn
        when its worker stopped) is dead, and its messages are claimed (XPENDING for that
        consumer, then XCLAIM with a small min-idle, so two workers never both take one).
        A live worker beats every few seconds, so its long runs are never taken. Right after
        an outage every heartbeat is old: nobody is judged dead until Redis has answered
        this worker for ``heartbeat_stale_seconds`` (a live peer has beaten again by then).
        A dead consumer holding nothing is deleted from the group (atomically, by script).
        """
        if self.outages.quiet_seconds(REDIS) < self.stale_seconds:
            return []
        beats = await heartbeats.list_workers(conn, self.keys, stale_seconds=self.stale_seconds)
        live = {b.id for b in beats if not b.is_stale}
        out: list[tuple[str, str, bytes]] = []
        for stream in self.streams:
            consumers: Any = await conn.xinfo_consumers(stream, self.consumer_group_name)
            for consumer in consumers:
                name = text(consumer["name"])
                if name == self.consumer_name or name in live:
                    continue
                if not int(consumer["pending"]):
                    await self._forget_consumer(
                        keys=[stream], args=[self.consumer_group_name, name]
                    )
                    continue
                pending: Any = await conn.xpending_range(
                    stream,
                    self.consumer_group_name,
                    min="-",
                    max="+",
                    count=self.unacknowledged_batch_size,
                    consumername=name,
                )
                ids: list[Any] = [text(p["message_id"]) for p in pending]
                if not ids:
                    continue
                claimed: Any = await conn.xclaim(
                    stream,
                    self.consumer_group_name,
                    self.consumer_name,
                    min_idle_time=DEAD_CLAIM_MIN_IDLE_MS,
                    message_ids=ids,
                )
                out += await self._take_over(
                    stream,
                    # Redis 6.2 answers nil for an entry deleted meanwhile: left to XAUTOCLAIM
                    [(msg_id, fields) for msg_id, fields in claimed if msg_id is not None],
                    "re-delivering a message of a dead worker",
                    dead_worker=name,
                )
        return out

    async def keep_in_flight(self) -> None:
        """Reset the idle time of every message this worker holds (heartbeat)."""
        for stream, ids in self.in_flight.items():
            if ids:
                await self._client.xclaim(
                    stream,
                    self.consumer_group_name,
                    self.consumer_name,
                    min_idle_time=0,
                    message_ids=list(ids),
                    justid=True,
                )

    async def observe_depth(self) -> None:
        """Set the queue-depth gauge: messages in each stream not yet delivered."""
        depths = await messages.queue_depths(self._client, self.keys, self.queues)
        for queue, depth in depths.items():
            metrics.BROKER_QUEUE_DEPTH.labels(queue).set(depth)

    async def shutdown(self) -> None:
        await self._client.aclose()
        await super().shutdown()
