"""The broker: taskiq-redis ``RedisStreamBroker``, one stream per queue, JSON only.

``TaskplaneBroker`` reads every stream of the queues it serves (``Keys.broker_stream``) in
the consumer group ``taskplane`` and differs from the stock ``listen`` in four ways:

- the group is created at ``0``, so messages sent before the first worker started are run;
- messages left unacknowledged by a crashed worker are claimed (XAUTOCLAIM) after
  ``broker_idle_timeout_ms`` on a timer, also when no new message arrives, and are marked
  re-delivered (the recorder lets only those take over a claim);
- the messages this worker holds are re-claimed by it on every heartbeat (XCLAIM JUSTID),
  so a long run is never taken for a crashed one;
- an acknowledgement is XACK + XDEL in one round trip: the stream holds only messages not
  yet done, so it does not grow without bound.

A message naming a type this worker does not know is run by a fallback task that records
the failure, instead of TaskIQ's log-and-drop.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from typing import Any

from redis.asyncio import Redis
from taskiq import AckableMessage
from taskiq.decor import AsyncTaskiqDecoratedTask
from taskiq.serializers import JSONSerializer
from taskiq_redis import RedisStreamBroker

from taskplane import metrics
from taskplane.settings import Settings
from taskplane.state.keys import Keys
from taskplane.worker.batching import AckBatcher
from taskplane.worker.execution import REDELIVERED_LABEL
from taskplane.worker.messages import TASK_NAME_PREFIX

log = logging.getLogger(__name__)

CONSUMER_GROUP = "taskplane"
UNKNOWN_TASK_NAME = f"{TASK_NAME_PREFIX}__unknown__"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


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
    ) -> None:
        if not queues:
            raise ValueError("a worker needs at least one queue")
        self.keys = keys
        self.queues = sorted(set(queues))
        self.streams = [keys.broker_stream(q) for q in self.queues]
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
        self.with_serializer(JSONSerializer())
        # message ids this worker holds, per stream: re-claimed on every heartbeat
        self.in_flight: dict[str, set[str]] = {s: set() for s in self.streams}
        self._unknown: AsyncTaskiqDecoratedTask[Any, Any] | None = None
        self._client = Redis(connection_pool=self.connection_pool)  # acks, heartbeat work
        self._acks = AckBatcher(self._client, CONSUMER_GROUP)
        self._stopping = False

    def stop_listening(self) -> None:
        """End ``listen`` within one read block. (Cancelling a blocked XREADGROUP is not
        enough: redis-py may swallow the cancellation and the loop would read on.)"""
        self._stopping = True

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
        claim_every = max(0.5, self.idle_timeout / 4000)
        last_claim = 0.0
        async with Redis(connection_pool=self.connection_pool) as conn:
            while not self._stopping:
                now = time.monotonic()
                if now - last_claim >= claim_every:
                    last_claim = now
                    for stream in self.streams:
                        claimed: Any = await conn.xautoclaim(
                            stream,
                            self.consumer_group_name,
                            self.consumer_name,
                            min_idle_time=self.idle_timeout,
                            start_id="0-0",
                            count=self.unacknowledged_batch_size,
                        )
                        entries = list(claimed[1])
                        self.in_flight[stream].update(_text(msg_id) for msg_id, _ in entries)
                        for msg_id, fields in entries:
                            if not fields or b"data" not in fields:  # not a message: drop it
                                await self._acks.ack(stream, _text(msg_id))
                                self.in_flight[stream].discard(_text(msg_id))
                                continue
                            log.warning(
                                "re-delivering a message a worker left unacknowledged",
                                extra={"stream": stream, "message_id": _text(msg_id)},
                            )
                            yield self._ackable(
                                stream, _text(msg_id), mark_redelivered(fields[b"data"])
                            )
                fetched: Any = await conn.xreadgroup(
                    self.consumer_group_name,
                    self.consumer_name,
                    dict.fromkeys(self.streams, ">"),
                    block=self.block,
                    count=self.count,
                )
                if isinstance(fetched, dict):  # RESP3 answers a map
                    fetched = list(fetched.items())
                batches = [(_text(stream), msgs) for stream, msgs in fetched or []]
                # the whole batch is ours from now on, also what waits for a free slot:
                # keep all of it alive (heartbeat), not only what already runs
                for stream, msgs in batches:
                    self.in_flight[stream].update(_text(msg_id) for msg_id, _ in msgs)
                for stream, msgs in batches:
                    for msg_id, fields in msgs:
                        yield self._ackable(stream, _text(msg_id), fields[b"data"])

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
        for queue, stream in zip(self.queues, self.streams, strict=True):
            async with self._client.pipeline(transaction=False) as pipe:
                pipe.xlen(stream)
                pipe.xpending(stream, self.consumer_group_name)
                length, pending = await pipe.execute()
            pending_count = int(pending.get("pending", 0)) if isinstance(pending, dict) else 0
            metrics.BROKER_QUEUE_DEPTH.labels(queue).set(max(0, int(length) - pending_count))

    async def shutdown(self) -> None:
        await self._client.aclose()
        await super().shutdown()
