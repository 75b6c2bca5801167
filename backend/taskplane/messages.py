"""The run message: the one contract between every producer and the worker.

A run is a TaskIQ ``TaskiqMessage`` serialized as JSON (the same bytes taskiq-redis's
``RedisStreamBroker.kick`` writes), appended to the stream of its task type's queue,
``Keys.broker_stream(queue)``, read by the consumer group ``CONSUMER_GROUP``. Every producer
(run now, batch run, the scheduler engine, retries) builds its messages with ``build``, and
every reader parses the labels with ``RunLabels.parse`` (arq's ``serialize_job`` /
``deserialize_job`` pair is the model): the label names and their defaults live here only.
Sends are pipelined XADDs (``send_many``): one round trip for a whole batch.

Labels (all JSON scalars; ``RunLabels``):
    config_id        int   the config this run belongs to
    task_type        str   registered task-type name
    trigger          str   scheduled / manual / batch / immediate / backfill
    attempt          int   1 for the first attempt; a retry re-sends with attempt + 1
    max_retries      int   from the config
    timeout_seconds  int   from the config (absent: the type's default)
    priority         int   0..9
    queue            str   the task type's queue
    due_at           str   ISO instant the fire was due (scheduled / immediate only)
    traceparent      str   W3C trace context of the span that sent it (only with traces on:
                           taskplane/tracing); the worker's execution span is its child
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic_core import to_jsonable_python
from redis.asyncio import Redis
from taskiq.message import TaskiqMessage

from taskplane.enums import Trigger
from taskplane.instants import read_instant
from taskplane.json_template import Hole, Template
from taskplane.state.keys import Keys
from taskplane.tasks.registry import DEFAULT_QUEUE

__all__ = [
    "CONSUMER_GROUP",
    "DEFAULT_QUEUE",
    "TASK_NAME_PREFIX",
    "TRACEPARENT_LABEL",
    "Outgoing",
    "RunLabels",
    "body_shape",
    "body_template",
    "build",
    "compose",
    "decode",
    "jsonable",
    "new_task_id",
    "queue_depths",
    "scheduled_task_id",
    "send",
    "send_many",
    "stream",
    "stream_prefix",
    "streams_overview",
    "task_name",
    "task_type_of",
]

TASK_NAME_PREFIX = "taskplane:"
CONSUMER_GROUP = "taskplane"
"""The consumer group of every broker stream (the workers read in it)."""
TRACEPARENT_LABEL = "traceparent"
"""The label (and the W3C header) a run's trace context travels in."""


def task_name(task_type: str) -> str:
    """The TaskIQ task name a task type is registered under."""
    return f"{TASK_NAME_PREFIX}{task_type}"


def task_type_of(name: str) -> str | None:
    """The task type of a TaskIQ task name; None for a task that is not taskplane's."""
    return name.removeprefix(TASK_NAME_PREFIX) if name.startswith(TASK_NAME_PREFIX) else None


def new_task_id() -> str:
    return uuid.uuid4().hex


def scheduled_task_id(config_id: int, due_ms: int) -> str:
    """The task id of the run of a config's due time (epoch ms): a scheduled fire's (the
    engine fills the same text into its template, ``scheduling/fires.py``) and a backfill's,
    so a due time sent twice is recorded once."""
    return f"{config_id}-{due_ms}"


def _int(value: Any, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _seconds(value: Any) -> float | None:
    """A positive number of seconds, else None (absent, zero or unreadable)."""
    if value is None or value == "":
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if seconds > 0 else None


def _trigger(value: Any) -> Trigger:
    try:
        return Trigger(str(value))
    except ValueError:
        return Trigger.MANUAL


@dataclass(frozen=True, slots=True)
class RunLabels:
    """The labels of one run message (see the module doc).

    ``parse`` is lenient (a worker must record even a damaged message): a missing or
    unreadable label takes its default, and the absent ones (``max_retries``, ``queue``,
    ``timeout_seconds``) stay None so the reader can fall back on the task type's own.
    """

    config_id: int
    task_type: str
    trigger: Trigger
    queue: str | None = DEFAULT_QUEUE
    attempt: int = 1
    max_retries: int | None = 0
    timeout_seconds: float | None = None
    priority: int = 0
    due_at: datetime | None = None
    traceparent: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The labels as sent (whole seconds for the timeout; absent ones left out)."""
        labels: dict[str, Any] = {
            "config_id": self.config_id,
            "task_type": self.task_type,
            "trigger": str(self.trigger),
            "attempt": self.attempt,
            "max_retries": self.max_retries or 0,
            "priority": self.priority,
            "queue": self.queue or DEFAULT_QUEUE,
        }
        timeout = int(self.timeout_seconds) if self.timeout_seconds is not None else 0
        if timeout > 0:
            labels["timeout_seconds"] = timeout
        if self.due_at is not None:
            labels["due_at"] = self.due_at.isoformat()
        if self.traceparent:
            labels[TRACEPARENT_LABEL] = self.traceparent
        return labels

    @classmethod
    def parse(cls, labels: Mapping[str, Any], task_name_: str = "") -> RunLabels:
        """The labels of a received message (``task_name_``: where the type comes from
        when the ``task_type`` label is missing)."""
        raw_retries = labels.get("max_retries")
        traceparent = labels.get(TRACEPARENT_LABEL)
        return cls(
            config_id=_int(labels.get("config_id"), 0),
            task_type=str(labels.get("task_type") or task_name_.removeprefix(TASK_NAME_PREFIX)),
            trigger=_trigger(labels.get("trigger", Trigger.MANUAL)),
            queue=str(labels["queue"]) if labels.get("queue") else None,
            attempt=max(1, _int(labels.get("attempt"), 1)),
            max_retries=None if raw_retries in (None, "") else _int(raw_retries, 0),
            timeout_seconds=_seconds(labels.get("timeout_seconds")),
            priority=_int(labels.get("priority"), 0),
            due_at=read_instant(labels.get("due_at")),
            traceparent=traceparent if isinstance(traceparent, str) and traceparent else None,
        )

    @classmethod
    def of(cls, message: TaskiqMessage) -> RunLabels:
        return cls.parse(message.labels, message.task_name)

    def next_attempt(self) -> RunLabels:
        return dataclasses.replace(self, attempt=self.attempt + 1)

    def scheduled_fire(self, config_id: int) -> RunLabels:
        """The labels of a scheduled fire of a registration whose labels these are (read
        back by ``parse``): the config's id, the absent ones at the values sent, no
        ``due_at`` and no ``traceparent`` (each fire fills its own). Labels made from a config are
        ``scheduling.registration.run_labels``; this is the one way back from a stored one."""
        return dataclasses.replace(
            self,
            config_id=config_id,
            trigger=Trigger.SCHEDULED,
            queue=self.queue or DEFAULT_QUEUE,
            attempt=1,
            max_retries=self.max_retries or 0,
            due_at=None,
            traceparent=None,
        )


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message to send: the stream it goes to and its encoded body."""

    queue: str
    task_id: str
    body: bytes


def compose(
    labels: RunLabels, parameters: Mapping[str, Any], task_id: str | None = None
) -> Outgoing:
    """The message of a run: its labels, the parameters as kwargs, a task id."""
    task_id = task_id or new_task_id()
    body = _JSON(_body(task_id, labels.to_dict(), jsonable(parameters)))
    return Outgoing(queue=labels.queue or DEFAULT_QUEUE, task_id=task_id, body=body.encode())


def body_template(
    labels: RunLabels, parameters: Mapping[str, Any], *, traced: bool = False
) -> Template:
    """``compose``'s body for ``labels`` and ``parameters`` as a template with two holes,
    ``task_id`` and the ``due_at`` label, in this order (``labels.due_at`` and
    ``labels.traceparent`` are not read): for a producer that sends many messages of one
    schedule, like the engine's templates. ``traced``: a third hole, the ``traceparent``
    label (the engine's templates when traces are on)."""
    return body_shape(labels, traced=traced).partial(
        config_id=labels.config_id, kwargs=jsonable(parameters)
    )


def body_shape(labels: RunLabels, *, traced: bool = False) -> Template:
    """``body_template``'s template with two more holes, the ``config_id`` label and the
    ``kwargs`` (``labels.config_id`` is not read): the shape the run messages of many configs
    with equal labels share, made once and filled per config by ``Template.partial`` with
    ``config_id`` and ``jsonable(parameters)`` (the engine's ``templates.Registrations``)."""
    labels_json: dict[str, Any] = labels.to_dict()
    labels_json.pop(TRACEPARENT_LABEL, None)
    labels_json["config_id"] = Hole("config_id")
    labels_json["due_at"] = Hole("due_at")
    holes: tuple[str, ...] = ("task_id", "config_id", "due_at")
    if traced:
        labels_json[TRACEPARENT_LABEL] = Hole(TRACEPARENT_LABEL)
        holes += (TRACEPARENT_LABEL,)
    shape = Template.of(_body(Hole("task_id"), labels_json, Hole("kwargs")), separators=_SEPARATORS)
    assert shape.holes == (*holes, "kwargs")  # what is filled, in this order
    return shape


def jsonable(parameters: Mapping[str, Any]) -> Any:
    """A run's parameters as its message's ``kwargs`` hold them (JSON mode, inf/nan: null)."""
    return to_jsonable_python(dict(parameters), inf_nan_mode="null")


_SEPARATORS = (",", ":")
_JSON = json.JSONEncoder(separators=_SEPARATORS).encode


def _body(task_id: Any, labels_json: dict[str, Any], kwargs: Any) -> Any:
    """The TaskiqMessage a run is, as its JSON mode dumps it (the model's fields in its
    order; tests hold the encoding equal to the model's), made without building the model
    (a tenth of the cost)."""
    return {
        "task_id": task_id,
        "task_name": task_name(labels_json["task_type"]),
        "labels": labels_json,
        "labels_types": None,
        "args": [],
        "kwargs": kwargs,  # ``jsonable(parameters)``
    }


def build(
    *,
    config_id: int,
    task_type: str,
    queue: str,
    parameters: Mapping[str, Any],
    trigger: Trigger,
    max_retries: int = 0,
    timeout_seconds: int | None = None,
    priority: int = 0,
    attempt: int = 1,
    due_at: datetime | None = None,
    task_id: str | None = None,
    traceparent: str | None = None,
) -> Outgoing:
    """``compose`` with the labels given field by field."""
    labels = RunLabels(
        config_id=config_id,
        task_type=task_type,
        trigger=trigger,
        queue=queue,
        attempt=attempt,
        max_retries=max_retries,
        timeout_seconds=timeout_seconds,
        priority=priority,
        due_at=due_at,
        traceparent=traceparent,
    )
    return compose(labels, parameters, task_id)


def decode(body: bytes | str) -> TaskiqMessage:
    return TaskiqMessage.model_validate_json(body)


def stream(keys: Keys, queue: str) -> str:
    """The broker stream of a queue (for a script that sends, like the engine's fire)."""
    return keys.broker_stream(queue or DEFAULT_QUEUE)


def stream_prefix(keys: Keys) -> str:
    """What every broker stream key starts with (the retry pump appends the queue)."""
    return keys.broker_stream_prefix


async def send_many(redis: Redis, keys: Keys, messages: Sequence[Outgoing]) -> list[str]:
    """Append every message to its queue's stream in one pipeline; returns the task ids.

    MULTI/EXEC: either the whole batch is on the broker or none of it is.
    """
    if not messages:
        return []
    async with redis.pipeline(transaction=True) as pipe:
        for m in messages:
            pipe.xadd(stream(keys, m.queue), {"data": m.body})
        await pipe.execute()
    return [m.task_id for m in messages]


async def send(redis: Redis, keys: Keys, message: Outgoing) -> str:
    """Append one message to its queue's stream; returns its task id."""
    await send_many(redis, keys, [message])
    return message.task_id


async def queue_depths(redis: Redis, keys: Keys, queues: Sequence[str]) -> dict[str, int]:
    """Messages in each queue's stream not yet delivered (XLEN - XPENDING of the group),
    in one pipeline. A queue whose stream cannot be read is left out; one without the
    group counts every message."""
    async with redis.pipeline(transaction=False) as pipe:
        for queue in queues:
            pipe.xlen(stream(keys, queue))
            pipe.xpending(stream(keys, queue), CONSUMER_GROUP)
        replies = await pipe.execute(raise_on_error=False)
    out: dict[str, int] = {}
    for index, queue in enumerate(queues):
        length, pending = replies[2 * index], replies[2 * index + 1]
        if isinstance(length, Exception):
            continue
        held = int(pending.get("pending", 0)) if isinstance(pending, dict) else 0
        out[queue] = max(0, int(length) - held)
    return out


async def streams_overview(redis: Redis, keys: Keys) -> list[dict[str, Any]]:
    """Every broker stream with its length and consumer groups (SCAN: for operators'
    inspection only, never on a request path)."""
    prefix = stream_prefix(keys)
    out: list[dict[str, Any]] = []
    async for name in redis.scan_iter(match=f"{prefix}*", count=500):
        if await redis.type(name) != "stream":
            continue
        entry: dict[str, Any] = {
            "queue": name[len(prefix) :],
            "length": int(await redis.xlen(name)),
        }
        try:
            groups = await redis.xinfo_groups(name)
        except Exception:
            groups = []
        entry["groups"] = [
            {
                "name": g.get("name"),
                "pending": g.get("pending"),
                "lag": g.get("lag"),
                "consumers": g.get("consumers"),
            }
            for g in groups
        ]
        out.append(entry)
    return sorted(out, key=lambda q: q["queue"])
