"""The config's limits on a run: its timeout, and retries with exponential backoff and jitter.

Timeout: the ``timeout_seconds`` label (from the config) or else the task type's default;
none at all means the run may take as long as it takes.

Retries: a failed attempt ``n`` (by return, exception or timeout; not invalid parameters,
which fail the same way every time) is retried while ``n <= max_retries``: the same task id
is re-sent with ``attempt = n + 1`` after ``backoff_seconds(n)``. The delayed message waits
in ``Keys.retry_delayed`` (a zset scored by due time), added by the recorder in the same
Lua script that records attempt ``n``, so a crash can neither lose the retry nor record the
attempt without it. ``RetryPump`` (every worker runs one) moves due retries to their stream
with one Lua script: ZREM and XADD together, so a retry is sent exactly once even when
several workers pump at the same time.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import random
import time
from collections.abc import Mapping
from typing import Any

from redis.asyncio import Redis
from taskiq.message import TaskiqMessage

from taskplane import messages
from taskplane.messages import RunLabels
from taskplane.outage import REDIS, Outages
from taskplane.state.keys import Keys
from taskplane.tasks.registry import DEFAULT_QUEUE, TaskType

log = logging.getLogger(__name__)

PUMP_BATCH = 200
_RNG = random.Random()  # jitter, not security

# KEYS[1] delayed zset; ARGV[1] now ms, ARGV[2] batch, ARGV[3] stream prefix.
# Returns how many retries were sent.
_PUMP = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
local sent = 0
for _, member in ipairs(due) do
  if redis.call('ZREM', KEYS[1], member) == 1 then
    local item = cjson.decode(member)
    redis.call('XADD', ARGV[3] .. item['queue'], '*', 'data', item['body'])
    sent = sent + 1
  end
end
return sent
"""


def timeout_for(labels: Mapping[str, Any], task: TaskType | None) -> float | None:
    """Seconds the run may take: the config's label, else the type's default, else None."""
    seconds = RunLabels.parse(labels).timeout_seconds
    if seconds is not None:
        return seconds
    if task is not None and task.timeout_seconds:
        return float(task.timeout_seconds)
    return None


def attempt_of(labels: Mapping[str, Any]) -> int:
    return RunLabels.parse(labels).attempt


def max_retries_of(labels: Mapping[str, Any], task: TaskType | None) -> int:
    label = RunLabels.parse(labels).max_retries
    default = task.max_retries if task is not None else 0
    return max(0, default if label is None else label)


def should_retry(labels: Mapping[str, Any], task: TaskType | None) -> bool:
    """Whether a failed attempt is followed by another one."""
    return attempt_of(labels) <= max_retries_of(labels, task)


def backoff_seconds(
    attempt: int, *, base: float, cap: float, rng: random.Random | None = None
) -> float:
    """Delay after failed attempt ``attempt``: base * 2^(attempt-1), capped, with "equal
    jitter" (uniform in [d/2, d]) so retries of many runs that failed together spread out."""
    delay: float = min(cap, base * float(2 ** max(0, attempt - 1)))
    source = rng if rng is not None else _RNG
    return delay / 2 + source.uniform(0, delay / 2)


def retry_message(message: TaskiqMessage, task: TaskType | None) -> messages.Outgoing:
    """The next attempt of ``message``: same task id and parameters, ``attempt + 1``."""
    labels = RunLabels.of(message)
    nxt = dataclasses.replace(
        labels.next_attempt(),
        queue=labels.queue or (task.queue if task else DEFAULT_QUEUE),
        max_retries=max_retries_of(message.labels, task),
    )
    return messages.compose(nxt, message.kwargs, message.task_id)


def delayed_member(outgoing: messages.Outgoing) -> str:
    """The zset member of a delayed retry (JSON; unique per task id and attempt)."""
    return json.dumps(
        {"queue": outgoing.queue, "body": outgoing.body.decode()}, separators=(",", ":")
    )


class RetryPump:
    """Moves due retries from ``Keys.retry_delayed`` to their streams (see module doc)."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        *,
        interval_seconds: float = 0.1,
        outages: Outages | None = None,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.interval_seconds = interval_seconds
        self.outages = outages or Outages()
        self._script = redis.register_script(_PUMP)

    async def pump_once(self, now_ms: int | None = None) -> int:
        now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
        sent = await self._script(
            keys=[self.keys.retry_delayed],
            args=[now_ms, PUMP_BATCH, messages.stream_prefix(self.keys)],
        )
        return int(sent)

    async def run(self) -> None:
        guard = self.outages.backoff("retry-pump", REDIS)
        while True:
            try:
                sent = await self.pump_once()
            except Exception as exc:
                await guard.failed(exc)  # one warning per outage (outage.py)
                continue
            guard.ok()
            if sent < PUMP_BATCH:
                await asyncio.sleep(self.interval_seconds)
