"""The execution recorder: every attempt becomes one ``task_execution`` row, exactly once.

``ExecutionRecorder`` (a TaskIQ middleware on the worker)
    ``pre_execute`` claims the attempt with a Lua script: ``Keys.execution_claim(task id,
    attempt)`` becomes ``run:{worker}`` and the task id joins ``Keys.running(config_id)``
    (with a TTL the heartbeat renews; the scheduler's overlap policy reads it). A delivery of
    an attempt already claimed is marked skipped and not run: a message sent or delivered
    twice runs once. Only a *re-delivered* message (its worker died before acknowledging)
    may take over a claim still in ``run:`` state.

    ``post_execute`` appends the record to the durable buffer ``Keys.recorder_buffer`` (a
    Redis stream), marks the claim ``done:``, removes the task id from the running set and,
    if the attempt failed and retries remain, adds the next attempt to
    ``Keys.retry_delayed`` -- all in ONE Lua script, before TaskIQ acknowledges the message. So
    whatever instant the worker dies at, the attempt is either re-run or recorded (with its
    retry), never both and never neither.

    Both scripts take a list: the claims (and the finishes) made in one event-loop turn go
    to Redis as ONE script call (``batching.ScriptBatcher``), each item with the same
    effect it had alone; a finish batch is all or nothing.

``RecordFlusher`` (``flusher.py``) moves the buffered records to the database.
"""

from __future__ import annotations

import json
import logging
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis
from taskiq.abc.middleware import TaskiqMiddleware
from taskiq.message import TaskiqMessage
from taskiq.result import TaskiqResult

from taskplane import metrics
from taskplane.alerts.store import MARK_START
from taskplane.alerts.store import claim_keys as alert_claim_keys
from taskplane.db.executions import ExecutionRecord
from taskplane.enums import Trigger
from taskplane.epoch import to_ms
from taskplane.messages import CONSUMER_GROUP, RunLabels
from taskplane.settings import Settings
from taskplane.state import running
from taskplane.state.keys import Keys
from taskplane.tasks.registry import TaskRegistry
from taskplane.worker import limits
from taskplane.worker.batching import ScriptBatcher
from taskplane.worker.execution import (
    CURRENT_MESSAGE,
    REDELIVERED_LABEL,
    SKIP_LABEL,
    Attempt,
    Skipped,
    type_name_of,
)

log = logging.getLogger(__name__)

_RECORD_FIELDS = tuple(f.name for f in fields(ExecutionRecord))

# A batch of claims (one per delivery, in order). KEYS[1] the running index, KEYS[2] the
# alerting configs, KEYS[3] their start marks (alerts/store.py); ARGV[1] worker id, ARGV[2]
# running TTL s; item i: KEYS[2i+2] claim, KEYS[2i+3] running set, ARGV[6i-3] claim TTL ms,
# ARGV[6i-2] task id, ARGV[6i-1] '1' if the message was re-delivered, ARGV[6i] its index
# entry (running.entry), ARGV[6i+1] config id, ARGV[6i+2] its start mark (epoch ms: the
# due time of a scheduled run, else now; kept for alerting configs only).
# Per item: 1 = claimed (run it), 0 = already recorded or running elsewhere (skip it).
_CLAIM = (
    MARK_START
    + """
local out = {}
for i = 1, (#KEYS - 3) / 2 do
  local claim, running, a = KEYS[2 * i + 2], KEYS[2 * i + 3], 6 * i - 3
  local current = redis.call('GET', claim)
  if current and (string.sub(current, 1, 5) == 'done:' or ARGV[a + 2] ~= '1') then
    out[i] = 0
  else
    redis.call('SET', claim, 'run:' .. ARGV[1], 'PX', ARGV[a])
    redis.call('SADD', running, ARGV[a + 1])
    redis.call('EXPIRE', running, ARGV[2])
    redis.call('HSET', KEYS[1], ARGV[a + 1], ARGV[a + 3])
    redis.call('EXPIRE', KEYS[1], ARGV[2])
    mark_start(KEYS[2], KEYS[3], ARGV[a + 4], ARGV[a + 5])
    out[i] = 1
  end
end
return out
"""
)

# A batch of finished attempts. KEYS[1] buffer, KEYS[2] delayed retries, KEYS[3] the running
# index; ARGV[1] 'done:{worker}', ARGV[2] claim TTL ms, ARGV[3] consumer group; item i:
# KEYS[3i+1] claim, KEYS[3i+2] running set, KEYS[3i+3] its broker stream, ARGV[5i-1] record
# JSON, ARGV[5i] task id, ARGV[5i+1] retry member ('' = none), ARGV[5i+2] retry due ms,
# ARGV[5i+3] the message id to acknowledge (XACK + XDEL; '' = acknowledged by the caller).
# One script: all or nothing.
_FINISH = """
local out = {}
for i = 1, (#KEYS - 3) / 3 do
  local a = 5 * i - 1
  redis.call('XADD', KEYS[1], '*', 'r', ARGV[a])
  redis.call('SET', KEYS[3 * i + 1], ARGV[1], 'PX', ARGV[2])
  redis.call('SREM', KEYS[3 * i + 2], ARGV[a + 1])
  redis.call('HDEL', KEYS[3], ARGV[a + 1])
  if ARGV[a + 2] ~= '' then
    redis.call('ZADD', KEYS[2], ARGV[a + 3], ARGV[a + 2])
  end
  if ARGV[a + 4] ~= '' then
    redis.call('XACK', KEYS[3 * i + 3], ARGV[3], ARGV[a + 4])
    redis.call('XDEL', KEYS[3 * i + 3], ARGV[a + 4])
  end
  out[i] = 1
end
return out
"""


def encode_record(record: ExecutionRecord) -> str:
    # field by field, not dataclasses.asdict: that deep-copies the result (hot path)
    data = {name: getattr(record, name) for name in _RECORD_FIELDS}
    data["started_at"] = record.started_at.isoformat()
    data["completed_at"] = record.completed_at.isoformat()
    data["trigger"] = str(record.trigger)
    return json.dumps(data, separators=(",", ":"))


def decode_record(raw: str | bytes) -> ExecutionRecord:
    data: dict[str, Any] = json.loads(raw)
    data["started_at"] = datetime.fromisoformat(data["started_at"])
    data["completed_at"] = datetime.fromisoformat(data["completed_at"])
    data["trigger"] = Trigger(data["trigger"])
    return ExecutionRecord(**data)


async def buffered(redis: Redis, keys: Keys) -> int:
    """How many execution records wait in the buffer for PostgreSQL (XLEN of the stream).

    The one reader of the buffer's depth: the flusher, the api's gauge and `taskplane
    inspect` all ask here, so none of them guesses the key's type."""
    return int(await redis.xlen(keys.recorder_buffer))


def record_of(attempt: Attempt, worker_id: str) -> ExecutionRecord:
    r = attempt.result
    return ExecutionRecord(
        config_id=attempt.config_id,
        task_id=attempt.task_id,
        task_type=attempt.task_type,
        trigger=attempt.trigger,
        is_success=r.success,
        attempt=attempt.attempt,
        started_at=attempt.started_at,
        completed_at=attempt.completed_at,
        duration_seconds=attempt.duration_seconds,
        result=r.to_dict(),
        error_message=None if r.success else (r.error or "failed"),
        traceback=r.traceback,
        worker=worker_id,
    )


def _config_id(message: TaskiqMessage) -> int:
    return RunLabels.of(message).config_id


class ExecutionRecorder(TaskiqMiddleware):
    """Claims each attempt before it runs and records it after (see the module doc)."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        settings: Settings,
        registry: TaskRegistry,
        worker_id: str,
    ) -> None:
        super().__init__()
        self.redis = redis
        self.keys = keys
        self.settings = settings
        self.registry = registry
        self.worker_id = worker_id
        # a record's claim outlives every way a message can come back: a re-delivery
        # (after the idle timeout) or a duplicate send (seconds)
        self.done_ttl_ms = max(600_000, 3 * settings.broker_idle_timeout_ms)
        self.running_ttl_seconds = max(60, int(10 * settings.heartbeat_interval_seconds))
        self.running: dict[str, int] = {}  # task id -> config id, renewed by the heartbeat
        # the claims (and finishes) of one event-loop turn share one script call
        self._claims = ScriptBatcher(
            redis,
            redis.register_script(_CLAIM),
            head_keys=[running.index_key(keys), *alert_claim_keys(keys)],
            head_args=[worker_id, self.running_ttl_seconds],
        )
        self._finishes = ScriptBatcher(
            redis,
            redis.register_script(_FINISH),
            head_keys=[keys.recorder_buffer, keys.retry_delayed, running.index_key(keys)],
            head_args=[f"done:{worker_id}", self.done_ttl_ms, CONSUMER_GROUP],
        )

    def _claim_ttl_ms(self, message: TaskiqMessage) -> int:
        task = self.registry.find(type_name_of(message))
        timeout = limits.timeout_for(message.labels, task) or 86_400
        return int(timeout * 1000) + self.done_ttl_ms

    async def pre_execute(self, message: TaskiqMessage) -> TaskiqMessage:
        CURRENT_MESSAGE.set(message)
        attempt = limits.attempt_of(message.labels)
        labels = RunLabels.of(message)
        config_id = labels.config_id
        now = datetime.now(UTC)
        claimed = await self._claims.call(
            [
                self.keys.execution_claim(message.task_id, attempt),
                running.key(self.keys, config_id),
            ],
            [
                self._claim_ttl_ms(message),
                message.task_id,
                "1" if message.labels.get(REDELIVERED_LABEL) else "0",
                running.entry(config_id, attempt, now, str(labels.trigger), self.worker_id),
                config_id,
                to_ms(labels.due_at or now),
            ],
        )
        if claimed:
            self.running[message.task_id] = config_id
        else:
            message.labels[SKIP_LABEL] = "duplicate delivery"
            log.info(
                "duplicate delivery skipped",
                extra={"task_id": message.task_id, "attempt": attempt},
            )
        return message

    async def post_execute(self, message: TaskiqMessage, result: TaskiqResult[Any]) -> None:
        await self.record(message, result)

    async def record(
        self,
        message: TaskiqMessage,
        result: TaskiqResult[Any],
        *,
        ack: tuple[str, str] | None = None,
    ) -> bool:
        """``post_execute``; with ``ack`` = (stream, message id) the message is also
        acknowledged in the same script. Returns whether it was (False: nothing recorded, a
        skipped delivery: the caller acknowledges it)."""
        outcome = result.return_value
        if isinstance(outcome, Skipped):
            return False
        config_id = _config_id(message)
        if not isinstance(outcome, Attempt):
            # the run itself broke (the worker is shutting down): leave the message
            # unacknowledged so it is re-delivered and run again
            self.running.pop(message.task_id, None)
            await running.remove(self.redis, self.keys, config_id, message.task_id)
            raise RuntimeError(f"attempt of task {message.task_id} did not finish: {result.error}")
        record = record_of(outcome, self.worker_id)
        retry_member = None
        task = self.registry.find(outcome.task_type)
        if (
            not record.is_success
            and outcome.is_retryable
            and limits.should_retry(message.labels, task)
        ):
            delay = limits.backoff_seconds(
                outcome.attempt,
                base=self.settings.retry_backoff_seconds,
                cap=self.settings.retry_backoff_max_seconds,
            )
            retry_member = (
                limits.delayed_member(limits.retry_message(message, task)),
                (outcome.completed_at.timestamp() + delay) * 1000,
            )
        await self._finishes.call(
            [
                self.keys.execution_claim(message.task_id, outcome.attempt),
                running.key(self.keys, config_id),
                ack[0] if ack else self.keys.recorder_buffer,
            ],
            [
                encode_record(record),
                message.task_id,
                retry_member[0] if retry_member else "",
                retry_member[1] if retry_member else 0,
                ack[1] if ack else "",
            ],
        )
        self.running.pop(message.task_id, None)
        outcome_label = "success" if record.is_success else "failure"
        metrics.EXECUTIONS.labels(record.task_type, outcome_label).inc()
        metrics.EXECUTION_DURATION.labels(record.task_type).observe(record.duration_seconds)
        return ack is not None

    async def renew_running(self) -> None:
        """Extend the TTL of the running sets of attempts in progress (heartbeat)."""
        await running.renew(self.redis, self.keys, self.running.values(), self.running_ttl_seconds)
